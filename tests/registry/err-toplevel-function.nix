{ keys ? [ ] }: { "a.age".publicKeys = keys; }
