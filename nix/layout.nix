# Where `make install` puts things, relative to the prefix. The package's installCheckPhase
# and tests/cli/install.sh both read this list, so the Makefile, the package and the tests
# agree on one layout (the paths nixpkgs' installShellCompletion uses).
{
  bin = "bin/m3age";
  agenixLink = "bin/agenix";
  man1 = "share/man/man1";
  bashCompletion = "share/bash-completion/completions/m3age";
  bashCompletionAgenix = "share/bash-completion/completions/agenix";
  zshCompletion = "share/zsh/site-functions/_m3age";
  fishCompletion = "share/fish/vendor_completions.d/m3age.fish";
  fishCompletionAgenix = "share/fish/vendor_completions.d/agenix.fish";
}
