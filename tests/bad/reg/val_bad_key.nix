{
  "secrets/a.age".publicKeys = [ "age1notakey" ];
}
