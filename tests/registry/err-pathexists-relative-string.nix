{ "a.age".publicKeys = if builtins.pathExists "fs/m3-helios.pub" then [ ] else [ ]; }
