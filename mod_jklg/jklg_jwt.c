/* A JWS verifier with no choices to make: the header may only confirm
 * HS256 and name one of our keys. Everything else about the token is
 * checked against that one shape, and anything unusual is refused. */
#include <string.h>
#include <sodium.h>
#include <apr_strings.h>
#include "jklg_json.h"
#include "jklg_token.h"
#include "jklg_jwt.h"

#define MAC_BYTES crypto_auth_hmacsha256_BYTES
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

static int key_usable(const jklg_jwt_key_t *key)
{
    return key && key->kid && key->key && key->key_len >= JKLG_JWT_KEY_MIN;
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
    unsigned char mac[MAC_BYTES];
    const char *header;
    const char *payload;
    const char *signed_part;
    const char *token;

    if (!key_usable(key) || !claims_signable(claims)) {
        return NULL;
    }
    /* jansson keeps insertion order, so the header is byte for byte the
     * documented one. */
    header = encode_json(p, json_pack("{s:s, s:s, s:s}", "alg", "HS256",
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
    hmac_sha256(key, signed_part, strlen(signed_part), mac);
    token = apr_pstrcat(p, signed_part, ".",
                        jklg_b64url_encode(p, mac, sizeof(mac)), NULL);
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

static const char *check_header(const json_t *header)
{
    const json_t *alg = json_object_get(header, "alg");
    const json_t *typ = json_object_get(header, "typ");
    int i;

    /* Exact, case-sensitive: "hs256", "none" and every other algorithm are
     * refused before a key is even looked at. */
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256")) {
        return "alg is not HS256";
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

static const char *find_key(const json_t *header, const jklg_jwt_key_t *keys,
                            int nkeys, const jklg_jwt_key_t **out)
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
            *out = &keys[i];
            return NULL;
        }
    }
    return "unknown kid";
}

static const char *check_signature(apr_pool_t *p, const jwt_parts_t *parts,
                                   const jklg_jwt_key_t *key)
{
    unsigned char mac[MAC_BYTES];
    unsigned char *sig;
    apr_size_t len;
    int match;

    sig = jklg_b64url_decode(p, parts->signature, &len);
    if (!sig || len != MAC_BYTES) {
        return "signature is not 32 bytes of canonical base64url";
    }
    hmac_sha256(key, parts->signed_part, parts->signed_len, mac);
    match = sodium_memcmp(mac, sig, MAC_BYTES) == 0;
    sodium_memzero(mac, sizeof(mac));
    return match ? NULL : "bad signature";
}

/* t is later than now by more than the allowed clock skew; written so
 * that no value of t or now can overflow. */
static int beyond_leeway(apr_int64_t t, apr_int64_t now)
{
    return now <= APR_INT64_MAX - JKLG_JWT_LEEWAY
           && t > now + JKLG_JWT_LEEWAY;
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
    /* No leeway on exp: a token's lifetime is never extended. */
    if (json_integer_value(exp) <= now) {
        return "expired";
    }
    if (beyond_leeway(json_integer_value(iat), now)) {
        return "iat is in the future";
    }
    if (nbf && beyond_leeway(json_integer_value(nbf), now)) {
        return "not yet valid (nbf)";
    }
    return NULL;
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
                        jklg_jwt_claims_t *out)
{
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
                          jklg_jwt_claims_t *out)
{
    jwt_parts_t parts;
    json_t *header;
    json_t *payload;
    const jklg_jwt_key_t *key;
    const char *why;

    if (!keys || nkeys <= 0 || !issuer) {
        return "no keys or issuer configured";
    }
    if ((why = split_token(p, token, &parts))
        || (why = decode_object(p, parts.header, &header_errors, &header))
        || (why = check_header(header))
        || (why = find_key(header, keys, nkeys, &key))
        || (why = check_signature(p, &parts, key))
        || (why = decode_object(p, parts.payload, &payload_errors, &payload))
        || (why = check_claims(payload, issuer, now))) {
        return why;
    }
    fill_claims(p, payload, out);
    return NULL;
}

apr_status_t jklg_jwt_verify(apr_pool_t *p, const char *token,
                             const jklg_jwt_key_t *keys, int nkeys,
                             const char *issuer, apr_int64_t now,
                             jklg_jwt_claims_t *out, const char **why)
{
    const char *reason = verify(p, token, keys, nkeys, issuer, now, out);

    if (why) {
        *why = reason;
    }
    return reason ? APR_EINVAL : APR_SUCCESS;
}
