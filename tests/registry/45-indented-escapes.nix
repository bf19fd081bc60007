# An escape in an indented string ('' followed by $, ' or \x) ends the leading spaces of
# its line where the smallest indentation is measured, like ${ } does; when the spaces are
# dropped it is text like any other: an escaped newline starts a line whose spaces go too.
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
  newline-first = ''
    ''\n  indented

  '';
}
