{ "a.age".publicKeys = [ "${1}" ]; }
