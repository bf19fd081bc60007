#!/usr/bin/env python3
"""gen.py: (re)generates the malformed inputs of tests/bad from a few files encrypted with
m3age to the throwaway key in tests/fuzz/identity.txt. Run by hand (python3 tests/bad/gen.py
BUILD/m3age); the outputs are committed, so the tests do not depend on it. Each input is
derived from a valid file by one deliberate change, named by the file."""
import base64, os, random, subprocess, sys

m3age = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
A, K = os.path.join(here, "age"), os.path.join(here, "keys")
os.makedirs(A, exist_ok=True)
os.makedirs(K, exist_ok=True)
key = open(os.path.join(here, "..", "fuzz", "identity.txt")).read()
rcpt = [l[len("# public key: "):] for l in key.splitlines() if l.startswith("# public key: ")][0]
secret = [l for l in key.splitlines() if l.startswith("AGE-SECRET-KEY-1")][0]
OTHER = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
env = dict(os.environ, M3AGE_PASSPHRASE="correct horse", M3AGE_SCRYPT_WORK_FACTOR="2")
open(os.path.join(K, "good.txt"), "w").write(key)


def enc(args, plain):
    return subprocess.run([m3age, "encrypt"] + args, input=plain, capture_output=True,
                          env=env, check=True).stdout


PLAIN = b"bad-input corpus: if you can read this, decryption worked\n"
good = enc(["-r", rcpt], PLAIN)
if not os.path.exists(os.path.join(A, "good.age")):
    open(os.path.join(A, "good.age"), "wb").write(good)
good = open(os.path.join(A, "good.age"), "rb").read()
hdr, payload = good.split(b"\n--- ", 1)
mac, payload = payload.split(b"\n", 1)
version, stanza, body = hdr.split(b"\n")
share = stanza.split(b" ")[2]
H = version + b"\n" + stanza + b"\n" + body + b"\n"  # stanzas without the MAC line
M = b"--- " + mac + b"\n"


def w(name, data):
    open(os.path.join(A, name + ".age"), "wb").write(data)


def b64(b):
    return base64.b64encode(b).rstrip(b"=")


def flip(data, i):
    b = bytearray(data)
    b[i] ^= 0x01
    return bytes(b)


rnd = random.Random(8)
# ---- header syntax
w("empty", b"")
w("newline", b"\n")
w("text", b"hello, world\n")
w("binary_junk", bytes(rnd.randrange(256) for _ in range(300)))
w("version_only", version + b"\n")
w("version_no_newline", version)
w("version_v2", good.replace(b"org/v1", b"org/v2", 1))
w("version_crlf", good.replace(b"v1\n", b"v1\r\n", 1))
w("version_upper", good.replace(b"age-encryption.org", b"AGE-ENCRYPTION.ORG", 1))
w("version_trailing_space", good.replace(b"v1\n", b"v1 \n", 1))
w("version_leading_space", b" " + good)
w("version_prefix_only", b"age-encryption.org/\n" + good[len(version) + 1:])
w("no_stanzas", version + b"\n" + M + payload)
w("stanza_no_type", version + b"\n->\n" + body + b"\n" + M + payload)
w("stanza_empty_type", version + b"\n-> \n" + body + b"\n" + M + payload)
w("stanza_no_space", good.replace(b"-> X25519", b"->X25519", 1))
w("stanza_double_space", good.replace(b"X25519 ", b"X25519  ", 1))
w("stanza_trailing_space", good.replace(share, share + b" ", 1))
w("stanza_tab", good.replace(b"X25519 ", b"X25519\t", 1))
w("stanza_utf8_arg", version + b"\n-> caf\xc3\xa9\n\n" + H[len(version) + 1:] + M + payload)
w("stanza_ctrl_arg", version + b"\n-> a\x1bb\n\n" + H[len(version) + 1:] + M + payload)
w("stanza_crlf", good.replace(share + b"\n", share + b"\r\n", 1))
w("stanza_nul", good.replace(b"X25519", b"X25\x0019", 1))
w("stanza_single_dash", good.replace(b"-> X25519", b"- X25519", 1))
w("stanza_three_dashes", good.replace(b"-> X25519", b"--> X25519", 1))
w("body_long_line", version + b"\n-> junk\n" + b"A" * 68 + b"\n\n" + H[len(version) + 1:] + M + payload)
w("body_full_line_no_end", version + b"\n-> junk\n" + b64(bytes(48)) + b"\n" + H[len(version) + 1:] + M + payload)
w("body_not_canonical", good.replace(body, body[:-1] + (b"B" if body[-1:] != b"B" else b"C"), 1))
w("body_padded", good.replace(body, body + b"=", 1))
w("body_bad_char", good.replace(body, b"*" + body[1:], 1))
w("body_missing", version + b"\n" + stanza + b"\n" + M + payload)
w("body_crlf", good.replace(body + b"\n", body + b"\r\n", 1))
w("body_space", good.replace(body, body[:10] + b" " + body[11:], 1))
# ---- MAC line
w("mac_missing", H + payload)
w("mac_short", H + b"--- " + mac[:-1] + b"\n" + payload)
w("mac_long", H + b"--- " + mac + b"A\n" + payload)
w("mac_not_base64", H + b"--- " + b"!" * 43 + b"\n" + payload)
w("mac_no_space", H + b"---" + mac + b"\n" + payload)
w("mac_two_spaces", H + b"---  " + mac + b"\n" + payload)
w("mac_crlf", H + b"--- " + mac + b"\r\n" + payload)
w("mac_empty", H + b"--- \n" + payload)
w("mac_dashes_only", H + b"---\n" + payload)
w("mac_four_dashes", H + b"---- " + mac + b"\n" + payload)
w("mac_padded", H + b"--- " + mac + b"=\n" + payload)
w("truncated_in_stanza", good[:len(version) + 12])
w("truncated_in_body", H[:-10])
w("truncated_in_mac", H + b"--- " + mac[:20])
w("truncated_at_mac_line", H + b"--- " + mac)
# ---- X25519 stanzas
w("x25519_two_args", good.replace(share, share + b" " + share, 1))
w("x25519_no_args", good.replace(b" " + share, b"", 1))
w("x25519_share_short", good.replace(share, share[:-1], 1))
w("x25519_share_long", good.replace(share, share + b"A", 1))
w("x25519_share_not_canonical", good.replace(share, share[:-1] + (b"B" if share[-1:] != b"B" else b"C"), 1))
w("x25519_share_zero", good.replace(share, b64(bytes(32)), 1))
w("x25519_body_short", good.replace(body, b64(base64.b64decode(body + b"=")[:31]), 1))
w("x25519_body_long", good.replace(body, b64(base64.b64decode(body + b"=") + b"\0"), 1))
w("x25519_body_empty", version + b"\n" + stanza + b"\n\n" + M + payload)
w("x25519_share_changed", good.replace(share, b64(bytes(31) + b"\x09"), 1))
w("x25519_body_flipped", good.replace(body, b64(flip(base64.b64decode(body + b"="), 0)), 1))
w("x25519_lowercase_type", good.replace(b"X25519", b"x25519", 1))
w("other_recipient", enc(["-r", OTHER], PLAIN))
w("unknown_stanza_only", version + b"\n-> made-up arg\n" + b64(b"x" * 10) + b"\n" + M + payload)
w("extra_unknown_stanza", H + b"-> made-up arg\n\n" + M + payload)
w("stanza_before_known", version + b"\n-> made-up\n\n" + H[len(version) + 1:] + M + payload)
w("mac_flipped", H + b"--- " + b64(flip(base64.b64decode(mac + b"="), 5)) + b"\n" + payload)
w("stanza_duplicated", H + stanza + b"\n" + body + b"\n" + M + payload)
# ---- hostile sizes (AGE_HEADER_MAX_STANZAS, AGE_STANZA_MAX_ARGS in libage/age.h)
w("header_1025_stanzas", H + b"-> x\n\n" * 1024 + M + payload)
w("header_1024_stanzas", H + b"-> x\n\n" * 1023 + M + payload)
w("stanza_17_args", H + b"-> x" + b" a" * 17 + b"\n\n" + M + payload)
# ---- scrypt
sg = enc(["-p"], PLAIN)
sh, sp = sg.split(b"\n--- ", 1)
smac, spay = sp.split(b"\n", 1)
sv, sst, sbody = sh.split(b"\n")
salt, wf = sst.split(b" ")[2], sst.split(b" ")[3]
SH = sv + b"\n" + sst + b"\n" + sbody + b"\n"
SM = b"--- " + smac + b"\n"
w("scrypt_good_wrong_pass", sg)
w("scrypt_with_x25519", SH + stanza + b"\n" + body + b"\n" + SM + spay)
w("scrypt_twice", SH + sst + b"\n" + sbody + b"\n" + SM + spay)
w("scrypt_salt_short", sg.replace(salt, b64(bytes(15)), 1))
w("scrypt_salt_missing", sg.replace(b" " + salt, b"", 1))
w("scrypt_wf_zero", sg.replace(b" " + salt + b" " + wf, b" " + salt + b" 0", 1))
w("scrypt_wf_leading_zero", sg.replace(b" " + salt + b" " + wf, b" " + salt + b" 02", 1))
w("scrypt_wf_too_high", sg.replace(b" " + salt + b" " + wf, b" " + salt + b" 23", 1))
w("scrypt_wf_huge", sg.replace(b" " + salt + b" " + wf, b" " + salt + b" 99999999999999999999", 1))
w("scrypt_wf_not_number", sg.replace(b" " + salt + b" " + wf, b" " + salt + b" ten", 1))
w("scrypt_wf_negative", sg.replace(b" " + salt + b" " + wf, b" " + salt + b" -2", 1))
w("scrypt_body_short", sg.replace(sbody, b64(base64.b64decode(sbody + b"=")[:31]), 1))
w("scrypt_extra_arg", sg.replace(b" " + wf + b"\n", b" " + wf + b" x\n", 1))
# ---- payload
w("payload_missing", H + M)
w("payload_nonce_short", H + M + payload[:8])
w("payload_nonce_only", H + M + payload[:16])
w("payload_nonce_flipped", H + M + flip(payload, 0))
w("payload_ciphertext_flipped", H + M + flip(payload, 16))
w("payload_tag_flipped", H + M + flip(payload, len(payload) - 1))
w("payload_truncated", H + M + payload[:-1])
w("payload_tag_missing", H + M + payload[:-16])
w("payload_extra_byte", H + M + payload + b"\0")
w("payload_extra_chunk", H + M + payload + payload[16:])
w("payload_blank_line", H + M + b"\n" + payload)
big = enc(["-r", rcpt], b"B" * 65636)
bh, bp = big.split(b"\n--- ", 1)
bmac, bpay = bp.split(b"\n", 1)
BH = bh + b"\n--- " + bmac + b"\n"
w("big_truncated_at_chunk", BH + bpay[:16 + 65536 + 16])
w("big_truncated_mid_chunk", BH + bpay[:16 + 30000])
w("big_last_tag_flipped", BH + flip(bpay, len(bpay) - 1))
w("big_first_chunk_flipped", BH + flip(bpay, 16 + 100))
# ---- armor
ga = enc(["-a", "-r", rcpt], PLAIN)
lines = ga.split(b"\n")
BEGIN, END = lines[0], lines[-2]
inner = lines[1:-2]
w("armor_good_other_key", enc(["-a", "-r", OTHER], PLAIN))
w("armor_no_end", b"\n".join([BEGIN] + inner) + b"\n")
w("armor_no_begin", b"\n".join(inner + [END]) + b"\n")
w("armor_lowercase_begin", ga.replace(BEGIN, BEGIN.lower(), 1))
w("armor_wrong_label", ga.replace(b"BEGIN AGE ENCRYPTED FILE", b"BEGIN AGE FILE", 1))
w("armor_end_mismatch", ga.replace(b"END AGE ENCRYPTED FILE", b"END AGE FILE", 1))
w("armor_long_line", b"\n".join([BEGIN, inner[0] + b"AAAA"] + inner[1:] + [END]) + b"\n")
w("armor_short_middle_line", b"\n".join([BEGIN, inner[0][:60], inner[0][60:]] + inner[1:] + [END]) + b"\n")
w("armor_bad_char", ga.replace(inner[1], b"!" + inner[1][1:], 1))
w("armor_missing_padding", ga.replace(inner[-1], inner[-1].rstrip(b"="), 1) if inner[-1].endswith(b"=") else ga.replace(inner[-1], inner[-1][:-1], 1))
w("armor_garbage_after_end", ga + b"trailing garbage\n")
w("armor_space_in_line", ga.replace(inner[1], inner[1][:30] + b" " + inner[1][31:], 1))
w("armor_header_field", b"\n".join([BEGIN, b"Comment: m3age", b""] + inner + [END]) + b"\n")
w("armor_empty_body", BEGIN + b"\n" + END + b"\n")
w("armor_double_begin", b"\n".join([BEGIN, BEGIN] + inner + [END]) + b"\n")
w("armor_not_age_inside", BEGIN + b"\n" + base64.b64encode(b"hello, world\n") + b"\n" + END + b"\n")
w("armor_truncated", ga[:len(ga) // 2])
w("armor_blank_line_inside", b"\n".join([BEGIN, inner[0], b""] + inner[1:] + [END]) + b"\n")
w("armor_nul", ga.replace(inner[2], inner[2][:5] + b"\0" + inner[2][6:], 1))
w("armor_five_dashes_only", b"-----\n")
w("armor_end_first", END + b"\n" + b"\n".join(inner) + b"\n" + BEGIN + b"\n")
w("armor_payload_tampered", ga.replace(inner[-1], (b"A" if inner[-1][:1] != b"A" else b"B") + inner[-1][1:], 1))
w("armor_padding_inside", ga.replace(inner[0], inner[0][:-2] + b"==", 1))
w("armor_text_before", b"see below\n" + ga)

# ---- identity files (decrypt -i) and recipients (encrypt -r / -R)
def k(name, data):
    open(os.path.join(K, name), "wb").write(data)


sb = secret.encode()
flipc = lambda s, i: s[:i] + (b"q" if s[i:i + 1] != b"Q" and s[i:i + 1] != b"q" else b"p") + s[i + 1:]
k("id_empty.txt", b"")
k("id_comments_only.txt", b"# nothing here\n\n# still nothing\n")
k("id_bad_checksum.txt", sb[:-1] + (b"Q" if sb[-1:] != b"Q" else b"P") + b"\n")
k("id_lowercase.txt", sb.lower() + b"\n")
k("id_mixed_case.txt", sb[:20] + sb[20:].lower() + b"\n")
k("id_truncated.txt", sb[:-5] + b"\n")
k("id_extra_chars.txt", sb + b"QQQQ\n")
k("id_wrong_hrp.txt", sb.replace(b"AGE-SECRET-KEY-1", b"AGE-SECRET-KEX-1", 1) + b"\n")
k("id_recipient.txt", rcpt.encode() + b"\n")
k("id_trailing_comment.txt", sb + b" # mine\n")
k("id_binary.txt", bytes(rnd.randrange(256) for _ in range(200)))
k("id_pq.txt", b"AGE-SECRET-KEY-PQ-1" + sb[16:] + b"\n")
k("id_nul.txt", sb[:30] + b"\0" + sb[31:] + b"\n")
k("id_second_line_bad.txt", sb + b"\nAGE-SECRET-KEY-1XYZ\n")
k("id_plugin.txt", b"AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQ\n")
k("id_armored_age.txt", ga)
k("rcpts_bad_line.txt", b"# team\n" + rcpt.encode() + b"\nage1notvalid\n")
k("rcpts_secret.txt", sb + b"\n")
k("rcpts_comment_after.txt", rcpt.encode() + b" # me\n")
k("rcpts_empty.txt", b"")
k("rcpts_bad_checksum.txt", rcpt[:-1].encode() + (b"q" if rcpt[-1] != "q" else b"p") + b"\n")
os.mkdir(os.path.join(K, "a_directory")) if not os.path.isdir(os.path.join(K, "a_directory")) else None
open(os.path.join(K, "a_directory", ".keep"), "w").write("")

# ---- well-formed bech32 with the wrong content (checksums valid, so the parser must look
# past the encoding)
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def bech32(hrp, data, upper=False):
    acc, bits, out = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(exp + out + [0] * 6) ^ 1
    out += [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    s = hrp + "1" + "".join(CHARSET[d] for d in out)
    return s.upper() if upper else s


with open(os.path.join(K, "bech32.txt"), "w") as f:
    f.write("# well-formed bech32 strings with the wrong content, for cases.txt\n")
    f.write("zero_key " + bech32("age", bytes(32)) + "\n")
    f.write("short_key " + bech32("age", bytes(range(1, 32))) + "\n")
    f.write("long_key " + bech32("age", bytes(range(1, 34))) + "\n")
    f.write("other_hrp " + bech32("agf", bytes(range(1, 33))) + "\n")
k("id_short_scalar.txt", bech32("age-secret-key-", bytes(range(1, 32)), True).encode() + b"\n")
k("id_long_scalar.txt", bech32("age-secret-key-", bytes(range(1, 34)), True).encode() + b"\n")
k("id_other_hrp.txt", bech32("age-secret-kez-", bytes(range(1, 33)), True).encode() + b"\n")
k("id_lowercase_valid.txt", bech32("age-secret-key-", bytes(range(1, 33))).encode() + b"\n")
