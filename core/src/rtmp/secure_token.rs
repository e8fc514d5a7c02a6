//! SecureToken, the challenge some Flash Media Server and Wowza setups put in the
//! `connect` result: `secureToken`, a hex string, is XXTEA-encrypted (Corrected Block
//! TEA) with the first 16 bytes of a key the player knows (`token=`); the player
//! answers `secureTokenResponse` with the plain text. As librtmp's `DecodeTEA` does it:
//! the key's bytes packed little-endian into four words (zeros after a short key), the
//! hex text read as little-endian words, the answer half as long as the hex.

/// The plain text of `challenge` under `key`.
pub fn decrypt(key: &str, challenge: &str) -> Vec<u8> {
    let k = key_words(key.as_bytes());
    let mut v = hex_words(challenge.as_bytes());
    if v.is_empty() {
        return Vec::new();
    }
    xxtea_decrypt(&mut v, &k);
    let mut out: Vec<u8> = v.iter().flat_map(|w| w.to_le_bytes()).collect();
    out.truncate(challenge.len() / 2);
    out
}

/// The challenge a server sends for `plain` under `key`: the inverse of [`decrypt`]
/// (`plain` is zero-padded to whole 4-byte words, and to two at least: XXTEA is
/// defined for two words and more).
pub fn encrypt(key: &str, plain: &[u8]) -> String {
    let k = key_words(key.as_bytes());
    let mut v: Vec<u32> = plain
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect();
    if v.is_empty() {
        return String::new();
    }
    if v.len() == 1 {
        v.push(0);
    }
    xxtea_encrypt(&mut v, &k);
    v.iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

const DELTA: u32 = 0x9e37_79b9;

fn key_words(key: &[u8]) -> [u32; 4] {
    let mut k = [0u32; 4];
    for (i, b) in key.iter().take(16).enumerate() {
        k[i / 4] |= u32::from(*b) << (8 * (i % 4));
    }
    k
}

/// librtmp's `HEX2BIN` over 8 characters a word; a short last word reads as zeros
/// (librtmp reads past the string there).
fn hex_words(text: &[u8]) -> Vec<u32> {
    let nibble = |c: u8| -> u32 {
        if c & 0x40 != 0 {
            u32::from(c & 0xf) + 9
        } else {
            u32::from(c & 0xf)
        }
    };
    text.chunks(8)
        .map(|c| {
            let mut w = 0u32;
            for i in 0..4 {
                let hi = c.get(2 * i).map_or(0, |&x| nibble(x));
                let lo = c.get(2 * i + 1).map_or(0, |&x| nibble(x));
                w |= ((hi << 4) + lo) << (8 * i);
            }
            w
        })
        .collect()
}

fn mx(sum: u32, y: u32, z: u32, p: usize, e: u32, k: &[u32; 4]) -> u32 {
    (((z >> 5) ^ (y << 2)).wrapping_add((y >> 3) ^ (z << 4)))
        ^ ((sum ^ y).wrapping_add(k[(p & 3) ^ e as usize] ^ z))
}

fn rounds(n: usize) -> u32 {
    6 + 52 / n as u32
}

fn xxtea_decrypt(v: &mut [u32], k: &[u32; 4]) {
    let n = v.len();
    let mut sum = rounds(n).wrapping_mul(DELTA);
    let mut y = v[0];
    while sum != 0 {
        let e = (sum >> 2) & 3;
        for p in (1..n).rev() {
            let z = v[p - 1];
            v[p] = v[p].wrapping_sub(mx(sum, y, z, p, e, k));
            y = v[p];
        }
        let z = v[n - 1];
        v[0] = v[0].wrapping_sub(mx(sum, y, z, 0, e, k));
        y = v[0];
        sum = sum.wrapping_sub(DELTA);
    }
}

fn xxtea_encrypt(v: &mut [u32], k: &[u32; 4]) {
    let n = v.len();
    let mut sum = 0u32;
    let mut z = v[n - 1];
    for _ in 0..rounds(n) {
        sum = sum.wrapping_add(DELTA);
        let e = (sum >> 2) & 3;
        for p in 0..n {
            let y = v[(p + 1) % n];
            v[p] = v[p].wrapping_add(mx(sum, y, z, p, e, k));
            z = v[p];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librtmp's own `DecodeTEA`, copied from `rtmp.c` into a small C program (`main`
    /// calls it on argv[1], argv[2] and prints the result in hex), given the key
    /// "flashless-secret" and this challenge, printed `PLAIN`.
    const CHALLENGE: &str = "3f1c9a0b5d2e7f6481a3c5e7092b4d6f8a1c3e50";
    const PLAIN: &str = "e09579968d198b12d61494791eb14d67677bf31a";
    const ENCRYPTED: &str = "e6b0bcd155c019ec632ac3a7f49c99ecf9e99eaeaf1d6762";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn decrypts_as_librtmp_does() {
        assert_eq!(hex(&decrypt("flashless-secret", CHALLENGE)), PLAIN);
        // The same program decrypts what `encrypt` makes (a server's challenge):
        // `tea flashless-secret ENCRYPTED` printed the hex of "a challenge of 24 bytes!".
        assert_eq!(
            encrypt("flashless-secret", b"a challenge of 24 bytes!"),
            ENCRYPTED
        );
    }

    #[test]
    fn encrypt_is_the_inverse() {
        for plain in [&b"abcdefgh"[..], b"a challenge of 24 bytes!", b"12345678X"] {
            let c = encrypt("k3y", plain);
            let mut back = decrypt("k3y", &c);
            back.truncate(plain.len());
            assert_eq!(back, plain, "{c}");
        }
        assert!(decrypt("k", "").is_empty());
    }
}
