/* A JWS verifier with no choices to make: the header may only name one
 * of our keys and confirm the algorithm that key was configured for
 * (HS256 or EdDSA). Everything else about the token is checked against
 * that one shape, and anything unusual is refused. */
#include <string.h>
#include <sodium.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include "jklg_json.h"
#include "jklg_token.h"
#include "jklg_jwt.h"

#define MAC_BYTES crypto_auth_hmacsha256_BYTES
#define SIG_BYTES crypto_sign_BYTES
#define ID_MAX 64                   /* sub and sid */
#define KID_BYTES 8

/* Header members that would make a verifier fetch, trust or obey
 * something named by the token itself. We never do, so a token that
 * carries one was not made by us. */
static const char *const forbidden_header[] = {
    "jku", "jwk", "x5u", "x5c", "crit", NULL
};

typedef struct {
    const char *header;             /* base64url parts, NUL-terminated */
    const char *payload;
    const char *signature;
    const char *signed_part;        /* header "." payload: what is MACed */
    apr_size_t signed_len;
} jwt_parts_t;

/* The reasons one base64url+JSON part can be refused, by part, so that
 * *why says which part was wrong without quoting it. */
typedef struct {
    const char *encoding;
    const char *json;
    const char *object;
} part_errors_t;

static const part_errors_t header_errors = {
    "header is not canonical base64url",
    "header is not valid JSON (or has duplicate members)",
    "header is not a JSON object"
};

static const part_errors_t payload_errors = {
    "payload is not canonical base64url",
    "payload is not valid JSON (or has duplicate members)",
    "payload is not a JSON object"
};

/* --- shared ----------------------------------------------------------- */

static void hmac_sha256(const jklg_jwt_key_t *key, const char *data,
                        apr_size_t len, unsigned char mac[MAC_BYTES])
{
    crypto_auth_hmacsha256_state st;

    /* The init/update/final form takes a key of any length; the one-shot
     * crypto_auth_hmacsha256() insists on exactly 32 bytes. */
    crypto_auth_hmacsha256_init(&st, key->key, key->key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)data, len);
    crypto_auth_hmacsha256_final(&st, mac);
    /* The state holds the key's inner and outer pads. */
    sodium_memzero(&st, sizeof(st));
}

static const char *alg_name(jklg_jwt_alg_t alg)
{
    return alg == JKLG_JWT_EDDSA ? "EdDSA" : "HS256";
}

/* Enough to check a signature: an EdDSA key needs only its public half. */
static int key_usable(const jklg_jwt_key_t *key)
{
    if (!key || !key->kid) {
        return 0;
    }
    if (key->alg == JKLG_JWT_EDDSA) {
        return key->public_key != NULL;
    }
    return key->key && key->key_len >= JKLG_JWT_KEY_MIN;
}

static int key_can_sign(const jklg_jwt_key_t *key)
{
    return key_usable(key)
        && (key->alg != JKLG_JWT_EDDSA
            || (key->key && key->key_len == JKLG_JWT_ED25519_SECRET));
}

static int id_ok(const json_t *v)
{
    apr_size_t len = json_string_length(v);

    return json_is_string(v) && len > 0 && len <= ID_MAX;
}

const char *jklg_jwt_derive_kid(apr_pool_t *p, const unsigned char *key,
                                apr_size_t key_len)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    char *hex = apr_palloc(p, KID_BYTES * 2 + 1);

    crypto_hash_sha256(digest, key, key_len);
    return sodium_bin2hex(hex, KID_BYTES * 2 + 1, digest, KID_BYTES);
}

/* --- Ed25519 keys ------------------------------------------------------ */

/* RFC 8410's PrivateKeyInfo for Ed25519, as OpenSSL writes it:
 * SEQUENCE(46) { INTEGER 0, SEQUENCE { OID 1.3.101.112 },
 * OCTET STRING(34) { OCTET STRING(32) seed } }. Every byte before the seed
 * is fixed, so comparing them is the whole parse. */
static const unsigned char pkcs8_ed25519_prefix[] = {
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
    0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
};
#define PKCS8_DER_BYTES (sizeof(pkcs8_ed25519_prefix) + JKLG_JWT_ED25519_SEED)
#define PKCS8_THROUGH_OID 12        /* prefix bytes up to the algorithm OID */
#define PEM_BEGIN "-----BEGIN PRIVATE KEY-----"
#define PEM_END "-----END PRIVATE KEY-----"
#define PEM_DER_MAX 256             /* larger PEM bodies are not ours */

void jklg_jwt_ed25519_key(apr_pool_t *p, const char *kid,
                          const unsigned char seed[JKLG_JWT_ED25519_SEED],
                          jklg_jwt_key_t *out)
{
    unsigned char *pk = apr_palloc(p, JKLG_JWT_ED25519_PUBLIC);
    unsigned char *sk = apr_palloc(p, JKLG_JWT_ED25519_SECRET);

    crypto_sign_seed_keypair(pk, sk, seed);
    out->alg = JKLG_JWT_EDDSA;
    out->key = sk;
    out->key_len = JKLG_JWT_ED25519_SECRET;
    out->public_key = pk;
    out->kid = kid ? kid : jklg_jwt_derive_kid(p, pk,
                                               JKLG_JWT_ED25519_PUBLIC);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *der_seed(const unsigned char *der, apr_size_t len,
                            unsigned char seed[JKLG_JWT_ED25519_SEED])
{
    if (len < sizeof(pkcs8_ed25519_prefix)
        || memcmp(der, pkcs8_ed25519_prefix, PKCS8_THROUGH_OID)) {
        return "the PEM does not hold an Ed25519 key (an RSA or EC key?)";
    }
    if (len != PKCS8_DER_BYTES
        || memcmp(der, pkcs8_ed25519_prefix, sizeof(pkcs8_ed25519_prefix))) {
        return "the PEM holds an Ed25519 key in a form other than the "
               "48-byte PKCS#8 that 'openssl genpkey -algorithm ed25519' "
               "writes";
    }
    memcpy(seed, der + sizeof(pkcs8_ed25519_prefix), JKLG_JWT_ED25519_SEED);
    return NULL;
}

/* text[0..len) starts with PEM_BEGIN and has no trailing whitespace. */
static const char *pem_seed(const char *text, apr_size_t len,
                            unsigned char seed[JKLG_JWT_ED25519_SEED])
{
    unsigned char der[PEM_DER_MAX];
    const char *body = text + strlen(PEM_BEGIN);
    const char *end;
    apr_size_t body_len, der_len;
    const char *why;

    if (len < strlen(PEM_BEGIN) + strlen(PEM_END)
        || memcmp(text + len - strlen(PEM_END), PEM_END, strlen(PEM_END))) {
        return "the PEM block does not end with " PEM_END;
    }
    body_len = (text + len - strlen(PEM_END)) - body;
    if (sodium_base642bin(der, sizeof(der), body, body_len, " \t\r\n",
                          &der_len, &end, sodium_base64_VARIANT_ORIGINAL)
        || end != body + body_len) {
        return "the PEM body is not base64 (or too long for an Ed25519 key)";
    }
    why = der_seed(der, der_len, seed);
    sodium_memzero(der, sizeof(der));
    return why;
}

static const char *b64url_seed(apr_pool_t *p, const char *text,
                               apr_size_t len,
                               unsigned char seed[JKLG_JWT_ED25519_SEED])
{
    char *copy = apr_pstrmemdup(p, text, len);
    apr_size_t bin_len = 0;
    unsigned char *bin = jklg_b64url_decode(p, copy, &bin_len);
    const char *why = NULL;

    if (!bin) {
        why = "the key is neither a PKCS#8 PEM (" PEM_BEGIN ") nor "
              "canonical base64url";
    }
    else if (bin_len != JKLG_JWT_ED25519_SEED) {
        why = "the base64url key is not 32 bytes (an Ed25519 seed is 32)";
    }
    else {
        memcpy(seed, bin, JKLG_JWT_ED25519_SEED);
    }
    sodium_memzero(copy, len);
    if (bin) {
        sodium_memzero(bin, bin_len);
    }
    return why;
}

apr_status_t jklg_jwt_ed25519_parse(apr_pool_t *p, const char *text,
                                    apr_size_t len,
                                    unsigned char seed[JKLG_JWT_ED25519_SEED],
                                    const char **why)
{
    const char *reason;

    while (len && is_space(*text)) {
        text++;
        len--;
    }
    while (len && is_space(text[len - 1])) {
        len--;
    }
    if (!len) {
        reason = "the key is empty";
    }
    else if (len >= strlen(PEM_BEGIN)
             && !memcmp(text, PEM_BEGIN, strlen(PEM_BEGIN))) {
        reason = pem_seed(text, len, seed);
    }
    else if (len >= 5 && !memcmp(text, "-----", 5)) {
        reason = "the PEM block is not an unencrypted PRIVATE KEY (PKCS#8)";
    }
    else {
        reason = b64url_seed(p, text, len, seed);
    }
    *why = reason;
    return reason ? APR_EINVAL : APR_SUCCESS;
}

json_t *jklg_jwt_public_jwk(apr_pool_t *p, const jklg_jwt_key_t *key)
{
    if (!key || key->alg != JKLG_JWT_EDDSA || !key_usable(key)) {
        return NULL;
    }
    return jklg_json_own(p, json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s}",
        "kty", "OKP", "crv", "Ed25519",
        "x", jklg_b64url_encode(p, key->public_key, JKLG_JWT_ED25519_PUBLIC),
        "kid", key->kid, "use", "sig", "alg", "EdDSA"));
}

/* --- signatures ------------------------------------------------------- */

const char *jklg_jwt_signature(apr_pool_t *p, const jklg_jwt_key_t *key,
                               const char *input, apr_size_t len)
{
    unsigned char sig[SIG_BYTES];
    const char *out;

    if (!key_can_sign(key) || !input) {
        return NULL;
    }
    if (key->alg == JKLG_JWT_EDDSA) {
        crypto_sign_detached(sig, NULL, (const unsigned char *)input, len,
                             key->key);
        return jklg_b64url_encode(p, sig, SIG_BYTES);
    }
    hmac_sha256(key, input, len, sig);
    out = jklg_b64url_encode(p, sig, MAC_BYTES);
    sodium_memzero(sig, sizeof(sig));
    return out;
}

static const char *check_hmac(const jklg_jwt_key_t *key, const char *input,
                              apr_size_t len, const unsigned char *sig,
                              apr_size_t sig_len)
{
    unsigned char mac[MAC_BYTES];
    int match;

    if (sig_len != MAC_BYTES) {
        return "signature is not 32 bytes of canonical base64url";
    }
    hmac_sha256(key, input, len, mac);
    match = sodium_memcmp(mac, sig, MAC_BYTES) == 0;
    sodium_memzero(mac, sizeof(mac));
    return match ? NULL : "bad signature";
}

/* libsodium also refuses non-canonical S and small-order public keys, so
 * a signature cannot be altered into another valid one. */
static const char *check_ed25519(const jklg_jwt_key_t *key, const char *input,
                                 apr_size_t len, const unsigned char *sig,
                                 apr_size_t sig_len)
{
    if (sig_len != SIG_BYTES) {
        return "signature is not 64 bytes of canonical base64url";
    }
    return crypto_sign_verify_detached(sig, (const unsigned char *)input, len,
                                       key->public_key) == 0
           ? NULL : "bad signature";
}

const char *jklg_jwt_signature_check(apr_pool_t *p, const jklg_jwt_key_t *key,
                                     const char *input, apr_size_t len,
                                     const char *sig)
{
    unsigned char *bin;
    apr_size_t bin_len = 0;

    if (!key_usable(key) || !input || !sig) {
        return "no usable key";
    }
    bin = jklg_b64url_decode(p, sig, &bin_len);
    if (!bin) {
        return "signature is not canonical base64url";
    }
    return key->alg == JKLG_JWT_EDDSA
           ? check_ed25519(key, input, len, bin, bin_len)
           : check_hmac(key, input, len, bin, bin_len);
}

/* --- signing ---------------------------------------------------------- */

static const char *encode_json(apr_pool_t *p, json_t *j)
{
    const char *s;

    if (!j) {
        return NULL;
    }
    s = jklg_json_dump(p, jklg_json_own(p, j));
    return s ? jklg_b64url_encode(p, (const unsigned char *)s, strlen(s))
             : NULL;
}

/* Refuses to sign what verification would refuse for its shape, so that
 * a configuration mistake fails at the signer, not at every request. */
static int claims_signable(const jklg_jwt_claims_t *c)
{
    return c && c->iss && c->sub && c->sid
        && *c->sub && strlen(c->sub) <= ID_MAX
        && *c->sid && strlen(c->sid) <= ID_MAX;
}

const char *jklg_jwt_sign(apr_pool_t *p, const jklg_jwt_key_t *key,
                          const jklg_jwt_claims_t *claims)
{
    const char *header;
    const char *payload;
    const char *signed_part;
    const char *signature;
    const char *token;

    if (!key_can_sign(key) || !claims_signable(claims)) {
        return NULL;
    }
    /* jansson keeps insertion order, so the header is byte for byte the
     * documented one. */
    header = encode_json(p, json_pack("{s:s, s:s, s:s}", "alg", alg_name(key->alg),
                                      "typ", "JWT", "kid", key->kid));
    payload = encode_json(p, json_pack("{s:s, s:s, s:s, s:I, s:I}",
                                       "iss", claims->iss,
                                       "sub", claims->sub,
                                       "sid", claims->sid,
                                       "iat", (json_int_t)claims->iat,
                                       "exp", (json_int_t)claims->exp));
    if (!header || !payload) {
        return NULL;
    }
    signed_part = apr_pstrcat(p, header, ".", payload, NULL);
    signature = jklg_jwt_signature(p, key, signed_part, strlen(signed_part));
    if (!signature) {
        return NULL;
    }
    token = apr_pstrcat(p, signed_part, ".", signature, NULL);
    return strlen(token) <= JKLG_JWT_MAX_LEN ? token : NULL;
}

/* --- verification ----------------------------------------------------- */

static const char *split_token(apr_pool_t *p, const char *token,
                               jwt_parts_t *parts)
{
    const char *dot1;
    const char *dot2;

    if (!token || !*token) {
        return "token is empty";
    }
    /* Bounded before anything else reads it: the token is the client's. */
    if (strnlen(token, JKLG_JWT_MAX_LEN + 1) > JKLG_JWT_MAX_LEN) {
        return "token is too long";
    }
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.')) {
        return "token does not have three parts";
    }
    parts->header = apr_pstrmemdup(p, token, dot1 - token);
    parts->payload = apr_pstrmemdup(p, dot1 + 1, dot2 - dot1 - 1);
    parts->signature = dot2 + 1;
    parts->signed_part = token;
    parts->signed_len = dot2 - token;
    return NULL;
}

static const char *decode_object(apr_pool_t *p, const char *b64,
                                 const part_errors_t *errors, json_t **out)
{
    unsigned char *bin;
    apr_size_t len;
    json_error_t err;
    json_t *j;

    bin = jklg_b64url_decode(p, b64, &len);
    if (!bin) {
        return errors->encoding;
    }
    /* DECODE_ANY only so that "null" is reported as what it is. */
    j = jklg_json_own(p, json_loadb((const char *)bin, len,
                                    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                                    &err));
    if (!j) {
        return errors->json;
    }
    if (!json_is_object(j)) {
        return errors->object;
    }
    *out = j;
    return NULL;
}

static const char *check_header(const json_t *header, jklg_jwt_alg_t *alg)
{
    const json_t *a = json_object_get(header, "alg");
    const json_t *typ = json_object_get(header, "typ");
    int i;

    /* Exact, case-sensitive: "hs256", "none" and every other algorithm are
     * refused before a key is even looked at. Which of the two it is only
     * has to agree with the key; it never picks how to check. */
    if (json_is_string(a) && !strcmp(json_string_value(a), "HS256")) {
        *alg = JKLG_JWT_HS256;
    }
    else if (json_is_string(a) && !strcmp(json_string_value(a), "EdDSA")) {
        *alg = JKLG_JWT_EDDSA;
    }
    else {
        return "alg is neither HS256 nor EdDSA";
    }
    if (typ && (!json_is_string(typ)
                || strcmp(json_string_value(typ), "JWT"))) {
        return "typ is not JWT";
    }
    for (i = 0; forbidden_header[i]; i++) {
        if (json_object_get(header, forbidden_header[i])) {
            return "header has a member we never issue (jku, jwk, x5u, "
                   "x5c or crit)";
        }
    }
    return NULL;
}

static const char *find_key(const json_t *header, jklg_jwt_alg_t alg,
                            const jklg_jwt_key_t *keys, int nkeys,
                            const jklg_jwt_key_t **out)
{
    const json_t *kid = json_object_get(header, "kid");
    int i;

    if (!kid) {
        return "missing kid";
    }
    if (!json_is_string(kid)) {
        return "kid is not a string";
    }
    for (i = 0; i < nkeys; i++) {
        if (keys[i].kid && !strcmp(keys[i].kid, json_string_value(kid))) {
            if (!key_usable(&keys[i])) {
                return "key for this kid is unusable (too short)";
            }
            /* The key decides the algorithm. An HS256 token naming an
             * Ed25519 kid would otherwise be "verified" with the public
             * key as the HMAC secret: the classic confusion attack. */
            if (keys[i].alg != alg) {
                return "alg is not the algorithm of the kid's key";
            }
            *out = &keys[i];
            return NULL;
        }
    }
    return "unknown kid";
}

static const char *check_signature(apr_pool_t *p, const jwt_parts_t *parts,
                                   const jklg_jwt_key_t *key)
{
    return jklg_jwt_signature_check(p, key, parts->signed_part,
                                    parts->signed_len, parts->signature);
}

/* t is later than now by more than the allowed clock skew; written so
 * that no value of t or now can overflow. */
static int beyond_leeway(apr_int64_t t, apr_int64_t now)
{
    return now <= APR_INT64_MAX - JKLG_JWT_LEEWAY
           && t > now + JKLG_JWT_LEEWAY;
}

/* The time checks alone, on values already known to be integers (also
 * for a token found in the cache, whose other checks do not depend on
 * the time). */
static const char *check_time_values(apr_int64_t exp, apr_int64_t iat,
                                     int has_nbf, apr_int64_t nbf,
                                     apr_int64_t now)
{
    /* No leeway on exp: a token's lifetime is never extended. */
    if (exp <= now) {
        return "expired";
    }
    if (beyond_leeway(iat, now)) {
        return "iat is in the future";
    }
    if (has_nbf && beyond_leeway(nbf, now)) {
        return "not yet valid (nbf)";
    }
    return NULL;
}

static const char *check_times(const json_t *payload, apr_int64_t now)
{
    const json_t *exp = json_object_get(payload, "exp");
    const json_t *iat = json_object_get(payload, "iat");
    const json_t *nbf = json_object_get(payload, "nbf");

    if (!json_is_integer(exp)) {
        return "exp is missing or not an integer";
    }
    if (!json_is_integer(iat)) {
        return "iat is missing or not an integer";
    }
    if (nbf && !json_is_integer(nbf)) {
        return "nbf is not an integer";
    }
    return check_time_values(json_integer_value(exp),
                             json_integer_value(iat), nbf != NULL,
                             nbf ? json_integer_value(nbf) : 0, now);
}

static const char *check_claims(const json_t *payload, const char *issuer,
                                apr_int64_t now)
{
    const char *iss = jklg_json_str(payload, "iss");

    if (!iss || strcmp(iss, issuer)) {
        return "wrong or missing iss";
    }
    /* We never issue aud; RFC 7519 says a token addressed to an audience
     * we are not must be refused. */
    if (json_object_get(payload, "aud")) {
        return "aud present";
    }
    if (!id_ok(json_object_get(payload, "sub"))) {
        return "sub missing, empty, too long or not a string";
    }
    if (!id_ok(json_object_get(payload, "sid"))) {
        return "sid missing, empty, too long or not a string";
    }
    return check_times(payload, now);
}

static void fill_claims(apr_pool_t *p, const json_t *payload,
                        jklg_jwt_claims_t *out, int *has_nbf,
                        apr_int64_t *nbf)
{
    const json_t *n = json_object_get(payload, "nbf");

    *has_nbf = n != NULL;
    *nbf = n ? json_integer_value(n) : 0;
    out->iss = apr_pstrdup(p, jklg_json_str(payload, "iss"));
    out->sub = apr_pstrdup(p, jklg_json_str(payload, "sub"));
    out->sid = apr_pstrdup(p, jklg_json_str(payload, "sid"));
    out->iat = json_integer_value(json_object_get(payload, "iat"));
    out->exp = json_integer_value(json_object_get(payload, "exp"));
}

/* The order matters: the payload, the larger attacker-chosen input, is
 * only parsed once the signature shows we wrote it. */
static const char *verify(apr_pool_t *p, const char *token,
                          const jklg_jwt_key_t *keys, int nkeys,
                          const char *issuer, apr_int64_t now,
                          jklg_jwt_claims_t *out, int *has_nbf,
                          apr_int64_t *nbf)
{
    jwt_parts_t parts;
    json_t *header;
    json_t *payload;
    const jklg_jwt_key_t *key;
    jklg_jwt_alg_t alg;
    const char *why;

    if (!keys || nkeys <= 0 || !issuer) {
        return "no keys or issuer configured";
    }
    if ((why = split_token(p, token, &parts))
        || (why = decode_object(p, parts.header, &header_errors, &header))
        || (why = check_header(header, &alg))
        || (why = find_key(header, alg, keys, nkeys, &key))
        || (why = check_signature(p, &parts, key))
        || (why = decode_object(p, parts.payload, &payload_errors, &payload))
        || (why = check_claims(payload, issuer, now))) {
        return why;
    }
    fill_claims(p, payload, out, has_nbf, nbf);
    return NULL;
}

apr_status_t jklg_jwt_verify(apr_pool_t *p, const char *token,
                             const jklg_jwt_key_t *keys, int nkeys,
                             const char *issuer, apr_int64_t now,
                             jklg_jwt_claims_t *out, const char **why)
{
    int has_nbf;
    apr_int64_t nbf;
    const char *reason = verify(p, token, keys, nkeys, issuer, now, out,
                                &has_nbf, &nbf);

    if (why) {
        *why = reason;
    }
    return reason ? APR_EINVAL : APR_SUCCESS;
}

/* --- the cache of verified tokens -------------------------------------- */

/* A customer sends the same token with every request for its lifetime;
 * checking it again (base64url, two JSON parses, HMAC or Ed25519) was
 * most of the module's own work for GET /me. A slot remembers a token
 * that passed every check but the time-dependent ones, which are made
 * again on each use. Slots are found by a keyed BLAKE2b digest of the
 * whole token, with a key drawn when the cache is made: nobody can
 * choose a token that lands on another's slot, let alone matches its
 * digest, and the digests are compared in constant time. Tokens are
 * never stored, only what they claim. */
#define CACHE_STRIPES 64

typedef struct {
    unsigned char digest[crypto_generichash_BYTES];
    const jklg_jwt_key_t *keys;     /* the configuration it passed with */
    int nkeys;
    const char *issuer;
    char sub[ID_MAX + 1];
    char sid[ID_MAX + 1];
    apr_int64_t iat, exp, nbf;
    int has_nbf;
    int used;
} cache_slot_t;

struct jklg_jwt_cache_t {
    unsigned char key[crypto_generichash_KEYBYTES];
    apr_thread_mutex_t *locks[CACHE_STRIPES];
    cache_slot_t *slots;
    apr_size_t nslots;
};

apr_status_t jklg_jwt_cache_create(jklg_jwt_cache_t **cache, apr_pool_t *p,
                                   apr_size_t nslots)
{
    jklg_jwt_cache_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv = APR_SUCCESS;

    *cache = NULL;
    if (nslots == 0) {
        return APR_EINVAL;
    }
    randombytes_buf(c->key, sizeof(c->key));
    c->nslots = nslots;
    c->slots = apr_pcalloc(p, sizeof(*c->slots) * nslots);
    for (int i = 0; i < CACHE_STRIPES && rv == APR_SUCCESS; i++) {
        rv = apr_thread_mutex_create(&c->locks[i], APR_THREAD_MUTEX_DEFAULT,
                                     p);
    }
    if (rv == APR_SUCCESS) {
        *cache = c;
    }
    return rv;
}

static apr_size_t slot_of(const jklg_jwt_cache_t *c,
                          const unsigned char *digest)
{
    apr_uint32_t n;

    memcpy(&n, digest, sizeof(n));
    return n % c->nslots;
}

static int slot_matches(const cache_slot_t *s, const unsigned char *digest,
                        const jklg_jwt_key_t *keys, int nkeys,
                        const char *issuer)
{
    return s->used && s->keys == keys && s->nkeys == nkeys
           && s->issuer == issuer
           && sodium_memcmp(s->digest, digest, sizeof(s->digest)) == 0;
}

/* 1 and *hit filled when the token passed here before. */
static int cache_find(jklg_jwt_cache_t *c, const unsigned char *digest,
                      const jklg_jwt_key_t *keys, int nkeys,
                      const char *issuer, cache_slot_t *hit)
{
    apr_size_t i = slot_of(c, digest);
    apr_thread_mutex_t *lock = c->locks[i % CACHE_STRIPES];
    int found;

    apr_thread_mutex_lock(lock);
    found = slot_matches(&c->slots[i], digest, keys, nkeys, issuer);
    if (found) {
        *hit = c->slots[i];
    }
    apr_thread_mutex_unlock(lock);
    return found;
}

static void cache_store(jklg_jwt_cache_t *c, const unsigned char *digest,
                        const jklg_jwt_key_t *keys, int nkeys,
                        const char *issuer, const jklg_jwt_claims_t *claims,
                        int has_nbf, apr_int64_t nbf)
{
    apr_size_t i = slot_of(c, digest);
    apr_thread_mutex_t *lock = c->locks[i % CACHE_STRIPES];
    cache_slot_t s;

    memset(&s, 0, sizeof(s));
    memcpy(s.digest, digest, sizeof(s.digest));
    s.keys = keys;
    s.nkeys = nkeys;
    s.issuer = issuer;
    /* verify() checked both are 1..ID_MAX bytes. */
    apr_cpystrn(s.sub, claims->sub, sizeof(s.sub));
    apr_cpystrn(s.sid, claims->sid, sizeof(s.sid));
    s.iat = claims->iat;
    s.exp = claims->exp;
    s.has_nbf = has_nbf;
    s.nbf = nbf;
    s.used = 1;
    apr_thread_mutex_lock(lock);
    c->slots[i] = s;        /* the newest token takes the slot */
    apr_thread_mutex_unlock(lock);
}

apr_status_t jklg_jwt_verify_cached(jklg_jwt_cache_t *cache, apr_pool_t *p,
                                    const char *token,
                                    const jklg_jwt_key_t *keys, int nkeys,
                                    const char *issuer, apr_int64_t now,
                                    jklg_jwt_claims_t *out, const char **why)
{
    unsigned char digest[crypto_generichash_BYTES];
    cache_slot_t hit;
    const char *reason;
    apr_size_t len;
    int has_nbf;
    apr_int64_t nbf;

    if (!cache || !token || !keys || nkeys <= 0 || !issuer
        || (len = strnlen(token, JKLG_JWT_MAX_LEN + 1)) > JKLG_JWT_MAX_LEN) {
        return jklg_jwt_verify(p, token, keys, nkeys, issuer, now, out, why);
    }
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)token,
                       len, cache->key, sizeof(cache->key));
    if (cache_find(cache, digest, keys, nkeys, issuer, &hit)) {
        reason = check_time_values(hit.exp, hit.iat, hit.has_nbf, hit.nbf,
                                   now);
        if (!reason) {
            out->iss = apr_pstrdup(p, issuer);
            out->sub = apr_pstrdup(p, hit.sub);
            out->sid = apr_pstrdup(p, hit.sid);
            out->iat = hit.iat;
            out->exp = hit.exp;
        }
    }
    else {
        reason = verify(p, token, keys, nkeys, issuer, now, out, &has_nbf,
                        &nbf);
        if (!reason) {
            cache_store(cache, digest, keys, nkeys, issuer, out, has_nbf,
                        nbf);
        }
    }
    if (why) {
        *why = reason;
    }
    return reason ? APR_EINVAL : APR_SUCCESS;
}
