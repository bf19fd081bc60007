[ "secrets/a.age" ]
