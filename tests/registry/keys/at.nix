args@{ users ? [ "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0" ], host, ... }:
{
  "secrets/${host}.age".publicKeys = users ++ [ args.key ];
  # only what the caller passed: a default is not in args
  "secrets/${host}-args.age".publicKeys = builtins.attrNames args;
}
