{
  "/etc/shadow".publicKeys = [ "age1t3k7urzx7v5dt7tf0mh3ky9vdsavd7am66pgv2gclaeghmplg4pq6r5c4c" ];
}
