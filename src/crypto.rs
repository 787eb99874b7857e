//! Personal data at rest (DESIGN.md "Security and privacy"; the governing measures Art. 25):
//! natural persons' ID numbers are stored encrypted with SM4 (GB/T 32907) in CTR mode with an
//! HMAC-SM3 tag (encrypt-then-MAC), and found by a keyed HMAC-SM3 hash, so the database holds no
//! plain ID number and a copy of it reveals none without the key. The key comes from the
//! configuration (`CREDITGATE_DATA_KEY`), never from the database.

use std::fmt;

use base64::Engine as _;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sm3::Sm3;

use crate::domain::IdNumber;

type HmacSm3 = Hmac<Sm3>;
type Sm4Ctr = ctr::Ctr128BE<sm4::Sm4>;

const PREFIX: &str = "sm4ctr1:";

/// The keys derived from the configured master key: one to encrypt, one to authenticate, one
/// for lookup hashes (so no key serves two purposes).
#[derive(Clone)]
pub struct DataKeys {
    enc: [u8; 16],
    mac: [u8; 32],
    lookup: [u8; 32],
    audit: [u8; 32],
    pseudonym: [u8; 32],
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKeys(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("CREDITGATE_DATA_KEY must be 64 hexadecimal characters (32 bytes); make one with `openssl rand -hex 32`")]
    BadKey,
    #[error("an encrypted value is damaged or was made with another key")]
    Damaged,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut m = <HmacSm3 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl DataKeys {
    /// From the configured master key: 64 hex characters.
    pub fn parse(hex_key: &str) -> Result<DataKeys, CryptoError> {
        let master = hex::decode(hex_key.trim()).map_err(|_| CryptoError::BadKey)?;
        if master.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Ok(Self::from_master(&master))
    }

    pub fn from_master(master: &[u8]) -> DataKeys {
        let enc_full = hmac(master, &[b"creditgate personal data: sm4 key"]);
        let mut enc = [0u8; 16];
        enc.copy_from_slice(&enc_full[..16]);
        DataKeys {
            enc,
            mac: hmac(master, &[b"creditgate personal data: mac key"]),
            lookup: hmac(master, &[b"creditgate personal data: lookup key"]),
            audit: hmac(master, &[b"creditgate access log: chain key"]),
            pseudonym: hmac(master, &[b"creditgate personal data: pseudonym key"]),
        }
    }

    /// The keyed hash an ID number is found by: equal numbers, equal hashes, under one key.
    pub fn lookup_hash(&self, id: &IdNumber) -> String {
        hex::encode(hmac(&self.lookup, &[id.expose().as_bytes()]))
    }

    /// `text` with every ID number in it (as [`crate::domain::id_number::id_number_spans`] finds
    /// them) replaced by `pid-` and 20 letters `a`–`p` (80 bits of a keyed HMAC-SM3 of the
    /// number, upper case): the same number gives the same pseudonym under one key, so an
    /// identifier that carried a number stays an identifier, and the pseudonym holds no digit,
    /// so pseudonymising twice changes nothing. Its own key: a pseudonym shown to a caller is not
    /// the lookup hash that a person's subject key is made of.
    pub fn pseudonymise(&self, text: &str) -> String {
        crate::domain::id_number::replace_id_numbers(text, |number| {
            let mac = hmac(&self.pseudonym, &[number.to_uppercase().as_bytes()]);
            let mut token = String::from("pid-");
            for byte in &mac[..10] {
                token.push((b'a' + (byte >> 4)) as char);
                token.push((b'a' + (byte & 0x0f)) as char);
            }
            token
        })
        .into_owned()
    }

    /// Names the key without revealing it: the same key always gives the same 32 hex
    /// characters, another key others (a backup carries it, so that a restore under another
    /// key is refused before anything is written).
    pub fn key_id(&self) -> String {
        hex::encode(&hmac(&self.audit, &[b"creditgate data key identity"])[..16])
    }

    /// HMAC-SM3 of the parts under the access log's key, hex: the access log's entry and chain
    /// hashes, which nobody without the key can recompute after an edit.
    pub fn audit_mac(&self, parts: &[&[u8]]) -> String {
        hex::encode(hmac(&self.audit, parts))
    }

    /// `sm4ctr1:` and base64 of a random 16-byte IV, the ciphertext and a 16-byte tag.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let iv: [u8; 16] = rand::random();
        let mut buf = plaintext.as_bytes().to_vec();
        let mut cipher = Sm4Ctr::new(&self.enc.into(), &iv.into());
        cipher.apply_keystream(&mut buf);
        let tag = hmac(&self.mac, &[&iv, &buf]);
        let mut out = Vec::with_capacity(16 + buf.len() + 16);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag[..16]);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let body = stored.strip_prefix(PREFIX).ok_or(CryptoError::Damaged)?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Damaged)?;
        if raw.len() < 32 {
            return Err(CryptoError::Damaged);
        }
        let (iv, rest) = raw.split_at(16);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        let want = hmac(&self.mac, &[iv, ct]);
        // Constant-time comparison of the tag.
        let diff = want[..16]
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(CryptoError::Damaged);
        }
        let mut buf = ct.to_vec();
        let iv: [u8; 16] = iv.try_into().map_err(|_| CryptoError::Damaged)?;
        let mut cipher = Sm4Ctr::new(&self.enc.into(), &iv.into());
        cipher.apply_keystream(&mut buf);
        String::from_utf8(buf).map_err(|_| CryptoError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> DataKeys {
        DataKeys::parse(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn sm4_is_the_standard_cipher() {
        // GB/T 32907-2016 Appendix A, example 1.
        use sm4::cipher::{BlockEncrypt, KeyInit};
        let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let c = sm4::Sm4::new_from_slice(&key).unwrap();
        let mut block = sm4::cipher::generic_array::GenericArray::clone_from_slice(&key);
        c.encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    }

    #[test]
    fn sm3_is_the_standard_hash() {
        // GB/T 32905-2016 Appendix A, example 1: "abc".
        use sm3::Digest;
        assert_eq!(
            hex::encode(Sm3::digest(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn round_trip_and_randomised() {
        let k = keys();
        let a = k.encrypt("110101199003070011");
        let b = k.encrypt("110101199003070011");
        assert_ne!(a, b, "a random IV per value");
        assert!(!a.contains("110101199003070011"));
        assert_eq!(k.decrypt(&a).unwrap(), "110101199003070011");
    }

    #[test]
    fn tampering_and_other_keys_are_detected() {
        let k = keys();
        let a = k.encrypt("110101199003070011");
        let mut chars: Vec<char> = a.chars().collect();
        let i = chars.len() - 20;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(k.decrypt(&tampered), Err(CryptoError::Damaged));
        let other = DataKeys::parse(&"22".repeat(32)).unwrap();
        assert_eq!(other.decrypt(&a), Err(CryptoError::Damaged));
    }

    #[test]
    fn lookup_hashes_are_keyed() {
        let id = IdNumber::parse("110101199003070011").unwrap();
        let k = keys();
        assert_eq!(k.lookup_hash(&id), k.lookup_hash(&id));
        assert_ne!(
            k.lookup_hash(&id),
            DataKeys::parse(&"22".repeat(32)).unwrap().lookup_hash(&id)
        );
        assert_eq!(k.lookup_hash(&id).len(), 64);
    }

    #[test]
    fn pseudonyms_replace_numbers_and_are_stable() {
        let k = keys();
        let a = k.pseudonymise("京市监罚〔2026〕12号|110101199003070011");
        assert!(a.starts_with("京市监罚〔2026〕12号|pid-"), "{a}");
        assert_eq!(a.len(), "京市监罚〔2026〕12号|pid-".len() + 20);
        assert!(!a.contains("1101011990"));
        assert_eq!(a, k.pseudonymise("京市监罚〔2026〕12号|110101199003070011"));
        assert_eq!(
            k.pseudonymise(&a),
            a,
            "pseudonymising twice changes nothing"
        );
        assert_eq!(
            k.pseudonymise("44030419851231002x"),
            k.pseudonymise("44030419851231002X")
        );
        assert_ne!(
            a,
            DataKeys::parse(&"22".repeat(32))
                .unwrap()
                .pseudonymise("京市监罚〔2026〕12号|110101199003070011")
        );
        assert_eq!(k.pseudonymise("SCJG-CF-2026-000123"), "SCJG-CF-2026-000123");
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(DataKeys::parse("abc").unwrap_err(), CryptoError::BadKey);
        assert_eq!(
            DataKeys::parse(&"zz".repeat(32)).unwrap_err(),
            CryptoError::BadKey
        );
    }
}
