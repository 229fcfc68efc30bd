//! The Encrypt Key cipher Feishu wraps webhook bodies in: AES-256-CBC keyed by
//! SHA-256 of the configured key, with the IV prepended and base64 outside.

use aes::Aes256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::{NoPadding, Pkcs7};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha2::{Digest, Sha256};

const BLOCK: usize = 16;

/// Why a ciphertext could not be opened. The variants exist for logs; callers
/// answer every one of them the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is not valid base64")]
    Base64,
    #[error("ciphertext is {0} bytes, shorter than an IV and one block")]
    TooShort(usize),
    #[error("ciphertext body is {0} bytes, not a multiple of the block size")]
    NotBlockAligned(usize),
    #[error("plaintext does not end in valid PKCS#7 padding")]
    BadPadding,
}

fn derive_key(encrypt_key: &str) -> [u8; 32] {
    Sha256::digest(encrypt_key.as_bytes()).into()
}

/// Opens a Feishu `encrypt` value and returns the plaintext without padding.
pub fn decrypt(encrypt_key: &str, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
    let buf = STANDARD
        .decode(encrypt_b64.trim())
        .map_err(|_| CryptoError::Base64)?;
    // PKCS#7 always adds at least one byte, so a valid message has at least
    // one ciphertext block after the IV.
    if buf.len() < 2 * BLOCK {
        return Err(CryptoError::TooShort(buf.len()));
    }
    let (iv_bytes, ciphertext) = buf.split_at(BLOCK);
    if ciphertext.len() % BLOCK != 0 {
        return Err(CryptoError::NotBlockAligned(ciphertext.len()));
    }
    let key = derive_key(encrypt_key);
    let mut iv = [0u8; BLOCK];
    iv.copy_from_slice(iv_bytes);
    // The padding is removed by hand below so that every malformed tail is
    // rejected, not only the ones a lenient unpadder would notice (the SDKs
    // disagree here, see the protocol notes §1.4).
    let mut plaintext = cbc::Decryptor::<Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<NoPadding>(ciphertext)
        .map_err(|_| CryptoError::BadPadding)?;
    let len = unpad_len(&plaintext)?;
    plaintext.truncate(len);
    Ok(plaintext)
}

/// The length of `plaintext` once its PKCS#7 padding is checked and dropped.
fn unpad_len(plaintext: &[u8]) -> Result<usize, CryptoError> {
    let pad = *plaintext.last().ok_or(CryptoError::BadPadding)? as usize;
    if pad == 0 || pad > BLOCK || pad > plaintext.len() {
        return Err(CryptoError::BadPadding);
    }
    let tail = &plaintext[plaintext.len() - pad..];
    if tail.iter().any(|&b| b as usize != pad) {
        return Err(CryptoError::BadPadding);
    }
    Ok(plaintext.len() - pad)
}

/// Seals `plaintext` the way Feishu does: PKCS#7, `iv` prepended, base64 with
/// padding. The caller chooses the IV so that tests are reproducible; real
/// senders must use a fresh random one per message.
pub fn encrypt(encrypt_key: &str, plaintext: &[u8], iv: [u8; 16]) -> String {
    let key = derive_key(encrypt_key);
    let ciphertext = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut out = Vec::with_capacity(BLOCK + ciphertext.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ciphertext);
    STANDARD.encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_KEY: &str = "1212121212";
    const GO_CIPHERTEXT: &str = "bZ3L7yh6m3Fkuffl4g+3uGjIHnhOm5fVZbKVuyT8t7tcd5ABMYm8l28/X900ZL3knZ7n+sCREu/H2WnIzft0amC7+xWqNH8o25IU63N4BnZWfHh+4hyG76QPd19vkw2bPJCx9aqxK8Nz+xqFNbk0RdgyWhmgd30jSxHtcQXAllkI7FMpGpOCteJad3bLXPDBQIV/xkCtKICCS7Z63gakpxZCLaRZ3qCXP1fapHh+LBIupxenrU6ysc7I3nHmjmKie41IiWwS5puG4zQHhVbq6KWLcgWm/3NBZOPQy53ucMu75SXA55I7jarVLZXWUcqBGrcgE3vouWbtwgZuzmoTQl0GSh5VYSVvpW992BuGxUWj0XjPYdICJm6Cr7xouNXwMcdb7N8caVdkdSZeEnswG19qSyDoQhklwzNGW0yiaayulBqJNjfge/G5V3401c2XaIuAeEIo+QQ4RSNpRGfnHkbu/j55FGQAGWjpuBNaIwZbaUoVP3NkGP+vM5rpEDe3sL2GN+Xsd+g9yBs7FqdMV8mXTGgLjCqjrPrke5/km76Q3Pe6KPs2YexMRG4MkSx3xUTzZnNn7zIzShPcjeSwBd2pxk6ht5N+fzueZdxl6Oo=";
    const GO_PLAINTEXT: &str = r#"{"schema":"2.0","header":{"event_id":"f7984f25108f8137722bb63cee927e66","event_type":"contact.user.created_v3","app_id":"cli_xxxxxxxx","tenant_key":"xxxxxxx","create_time":"1603977298000000","token":"v"},"event":{"object":{"open_id":"ou_7dab8a3d3cdcc9da365777c7ad535d62","union_id":"on_576833b917gda3d939b9a3c2d53e72c8","user_id":"e33ggbyz","name":"张三","employee_no":"employee_no"}},"challenge":"1212","type":"url_verification"}"#;

    #[test]
    fn doc_vector_decrypts_to_hello_world() {
        let plaintext =
            decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").unwrap();
        assert_eq!(plaintext, b"hello world");
    }

    #[test]
    fn go_sdk_vector_decrypts_to_the_exact_json() {
        let plaintext = decrypt(GO_KEY, GO_CIPHERTEXT).unwrap();
        assert_eq!(String::from_utf8(plaintext).unwrap(), GO_PLAINTEXT);
        assert_eq!(GO_PLAINTEXT.len(), 432);
    }

    #[test]
    fn encrypt_then_decrypt_round_trips_every_padding_length() {
        for len in 0..=48 {
            let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = encrypt("a key", &plaintext, [7; 16]);
            let raw = STANDARD.decode(&sealed).unwrap();
            assert_eq!(&raw[..16], &[7; 16], "the IV leads the ciphertext");
            assert_eq!((raw.len() - 16) % 16, 0);
            assert!(raw.len() - 16 > len, "PKCS#7 always pads");
            assert_eq!(decrypt("a key", &sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn encrypt_reproduces_the_doc_vector_from_its_iv() {
        let raw = STANDARD
            .decode("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")
            .unwrap();
        let iv: [u8; 16] = raw[..16].try_into().unwrap();
        assert_eq!(
            encrypt("test key", b"hello world", iv),
            "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="
        );
    }

    #[test]
    fn wrong_key_is_rejected() {
        // With the wrong key the last block decrypts to noise; the strict unpad
        // must notice (a 1-in-256-ish chance of a valid-looking 0x01 is ruled
        // out for this fixed vector).
        assert_eq!(
            decrypt("not the key", GO_CIPHERTEXT),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn truncated_ciphertext_is_rejected() {
        let raw = STANDARD.decode(GO_CIPHERTEXT).unwrap();
        let cut = STANDARD.encode(&raw[..raw.len() - 5]);
        assert!(matches!(
            decrypt(GO_KEY, &cut),
            Err(CryptoError::NotBlockAligned(_))
        ));
        let iv_only = STANDARD.encode(&raw[..16]);
        assert_eq!(decrypt(GO_KEY, &iv_only), Err(CryptoError::TooShort(16)));
        assert_eq!(decrypt(GO_KEY, ""), Err(CryptoError::TooShort(0)));
    }

    #[test]
    fn bad_base64_is_rejected() {
        assert_eq!(decrypt(GO_KEY, "not base64!!"), Err(CryptoError::Base64));
    }

    #[test]
    fn bad_padding_is_rejected() {
        // Encrypt blocks that carry no valid padding by sealing a padded block
        // and then dropping the final (pure padding) block.
        let sealed = encrypt("k", &[0x41; 16], [1; 16]);
        let raw = STANDARD.decode(sealed).unwrap();
        assert_eq!(raw.len(), 48);
        let no_padding_block = STANDARD.encode(&raw[..32]);
        assert_eq!(
            decrypt("k", &no_padding_block),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn unpad_checks_every_padding_byte() {
        assert_eq!(unpad_len(b"abc\x03\x03\x03"), Ok(3));
        assert_eq!(unpad_len(b"abc\x02\x03\x03"), Err(CryptoError::BadPadding));
        assert_eq!(unpad_len(b"abc\x00"), Err(CryptoError::BadPadding));
        assert_eq!(unpad_len(&[17u8; 32]), Err(CryptoError::BadPadding));
        assert_eq!(unpad_len(&[16u8; 16]), Ok(0));
    }
}
