{
  "secrets/a.age".publicKeys = throw "no keys yet";
}
