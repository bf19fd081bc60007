{
  "secrets/a.age" = { armor = true; };
}
