# An imported function whose file starts with its name pattern (args@{ ... }:, the file's
# first token): m3age once left args unbound there.
import ./keys/at.nix { host = "m3-atlas"; key = "age1atlas"; }
// import ./keys/at.nix { host = "m3-helios"; key = "age1helios"; users = [ ]; }
