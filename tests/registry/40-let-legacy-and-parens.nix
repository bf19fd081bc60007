(let { k = "age1xyz"; body = { "a.age".publicKeys = [ ((k)) ]; }; })
