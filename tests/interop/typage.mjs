// tests/interop/typage.mjs: a small command line around typage (the TypeScript age, npm
// package age-encryption), for tests/interop/typage.sh. TYPAGE_DIR names the npm prefix it
// is installed in.
//   keygen               a new post-quantum identity, then its recipient (two lines)
//   recipient ID         the recipient of identity ID
//   encrypt [-a] R...    stdin encrypted to the recipients (-a: armored), to stdout
//   decrypt ID...        stdin (binary or armored) decrypted with the identities, to stdout
import { webcrypto } from "node:crypto";
import { readFileSync, writeSync } from "node:fs";

// Node.js 18 (Debian 12's nodejs) has Web Crypto only as node:crypto's webcrypto; typage and
// the @noble libraries under it use the global `crypto`, which Node.js has from 19 on.
if (globalThis.crypto === undefined) globalThis.crypto = webcrypto;

const age = await import(`${process.env.TYPAGE_DIR}/node_modules/age-encryption/dist/index.js`);
const [cmd, ...args] = process.argv.slice(2);

function writeAll(bytes) {
    for (let off = 0; off < bytes.length; )
        off += writeSync(1, bytes, off, bytes.length - off);
}

if (cmd === "keygen") {
    const id = await age.generateHybridIdentity();
    console.log(id);
    console.log(await age.identityToRecipient(id));
} else if (cmd === "recipient") {
    console.log(await age.identityToRecipient(args[0]));
} else if (cmd === "encrypt") {
    const armored = args[0] === "-a";
    const e = new age.Encrypter();
    for (const r of armored ? args.slice(1) : args) e.addRecipient(r);
    const ct = await e.encrypt(new Uint8Array(readFileSync(0)));
    writeAll(armored ? new TextEncoder().encode(age.armor.encode(ct)) : ct);
} else if (cmd === "decrypt") {
    const d = new age.Decrypter();
    for (const id of args) d.addIdentity(id);
    let input = new Uint8Array(readFileSync(0));
    const text = new TextDecoder().decode(input.subarray(0, 40));
    if (text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----"))
        input = age.armor.decode(new TextDecoder().decode(input));
    writeAll(await d.decrypt(input));
} else {
    console.error(`typage.mjs: unknown command ${cmd}`);
    process.exit(2);
}
