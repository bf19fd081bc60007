{
  x = ''
    never closed;
}
