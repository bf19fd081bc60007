# An escape in an indented string ('' followed by $, ' or \x) counts as text where it
# stands: it ends a line's indentation like ${ } does, and what it stands for is kept.
{
  newline-escape = ''
    a
  ''\nb
  '';
  tab-at-start = ''
      indented
  ''\tkept
  '';
  dollar = ''
    ''${not-interpolated}
      more
  '';
  quotes = ''
    '''quoted'''
  '';
}
