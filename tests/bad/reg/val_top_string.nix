"secrets/a.age"
