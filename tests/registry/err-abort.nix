{ "a.age".publicKeys = abort "stop"; }
