{ "a.age".publicKeys = if builtins.pathExists 1 then [ ] else [ ]; }
