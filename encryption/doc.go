// Package encryption encrypts backed-up media files with age
// (https://age-encryption.org, filippo.io/age) before they leave the host, and
// decrypts them on restore.
//
// Everything streams: no function buffers a whole file, so memory use does not
// depend on file size.
//
// # Key management
//
// Files are encrypted to one or more X25519 recipients ("age1..." public
// keys, see [ParseRecipients]). Any one of the matching identities
// ("AGE-SECRET-KEY-1..." private keys, see [LoadIdentity]) decrypts them.
// Encrypt to at least two recipients whose identities are stored apart (e.g.
// the backup host and an offline escrow key), so that losing one key does not
// lose the backups.
//
// Identity files use the format of age-keygen(1): one key per line, blank
// lines and lines starting with '#' ignored. [LoadIdentity] refuses a file that
// every user on the host can read.
//
// # Key rotation
//
// An age file's payload is encrypted with a random file key, and its
// header wraps that key once per recipient. [Rewrap] opens a header with an
// identity and writes a new header that wraps the same file key for a new
// list of recipients: the new header followed by the old payload, byte
// for byte, is a file that the new recipients' identities decrypt and the
// dropped ones do not. Rekeying thus never decrypts, re-encrypts or
// re-uploads the payload. [ReadHeader] returns a file's header exactly as
// stored, so the payload starts at len(header).
//
// # Compatibility
//
// The output is a standard binary (not armored) age v1 file, named with
// [Suffix]. It can be decrypted without this tool by any age implementation,
// including the age 1.1.1 command-line tool shipped by Debian:
//
//	age -d -i key.txt -o file file.age
//
// To keep that guarantee, post-quantum hybrid recipients ("age1pq1...") are
// refused: age 1.1.1 cannot decrypt them.
package encryption
