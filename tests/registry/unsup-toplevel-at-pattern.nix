# A function at the very start of the file, with an @-pattern: the name before the @ is its
# first token (token 0), and the top-level function is what m3age reports.
args@{ hosts, ... }: args.users or hosts
