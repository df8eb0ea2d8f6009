/* Passwords: argon2id hashes (libsodium), legacy bcrypt hashes (libcrypt),
 * the password policy (UTF-8, length, email, cracklib) and the hash gate. */
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <crack.h>
#include <crypt.h>
#include <sodium.h>
#include <apr_cstr.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include "jklg_password.h"

#define ARGON2ID_PREFIX "$argon2id$"

/* bcrypt keys on the first 72 bytes and ignores the rest; libcrypt refuses
 * passphrases of 512 bytes or more, which the old backend accepted. */
#define BCRYPT_KEY_BYTES 72

/* Fewer different characters than this is a repetition ("aaaaaaaaaa"),
 * whatever the length. Counted in code points. */
#define MIN_DISTINCT_CHARS 5

/* cracklib judges this many leading bytes: its rules are made for a few
 * words, and over a long sentence its step count (every "st", "on", "ed")
 * calls ordinary English systematic. */
#define CRACKLIB_MAX_BYTES 32

typedef struct {
    const char *name;
    unsigned long long opslimit;
    size_t memlimit;
    /* Hash of a random, forgotten password made at exactly these limits
     * (crypto_pwhash_str_alg once, offline): verifying it costs what a real
     * verification at this level costs. */
    const char *dummy_hash;
} level_params_t;

static const level_params_t levels[] = {
    [JKLG_PWHASH_INTERACTIVE] = {
        "interactive",
        crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
        "$argon2id$v=19$m=65536,t=2,p=1$SqWIsRIbspuY79IUCLCkkg"
        "$A/hm335NGFs9Hbr3xz6CJZn5yLBKLl9zFnW/gfsiBVM"
    },
    [JKLG_PWHASH_MODERATE] = {
        "moderate",
        crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE,
        "$argon2id$v=19$m=262144,t=3,p=1$MfNoBIqi52nhkf5uT0jefg"
        "$cKqvWHVlkq16PXsS9O2+r5BSS0uzdtddUqBav/hAJRA"
    },
    [JKLG_PWHASH_SENSITIVE] = {
        "sensitive",
        crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE,
        "$argon2id$v=19$m=1048576,t=4,p=1$W8g7cIvJPjq8uoHGYf+GYA"
        "$zMZyODA15Ta726aHh+iBSgC0zs1dho2nhREiwnB/Xp8"
    }
};

#define LEVEL_COUNT ((int)(sizeof(levels) / sizeof(levels[0])))

/* An out-of-range level (a caller's bug) falls back to the cheapest rather
 * than reading past the table. */
static const level_params_t *level_params(jklg_pwhash_level_t level)
{
    if ((int)level < 0 || (int)level >= LEVEL_COUNT) {
        return &levels[JKLG_PWHASH_INTERACTIVE];
    }
    return &levels[level];
}

apr_status_t jklg_pwhash_level_parse(const char *name,
                                     jklg_pwhash_level_t *level)
{
    int i;

    for (i = 0; name && i < LEVEL_COUNT; i++) {
        if (!apr_cstr_casecmp(name, levels[i].name)) {
            *level = (jklg_pwhash_level_t)i;
            return APR_SUCCESS;
        }
    }
    return APR_EINVAL;
}

apr_size_t jklg_pwhash_memory(jklg_pwhash_level_t level)
{
    return level_params(level)->memlimit;
}

/* --- hashing and verification ---------------------------------------- */

/* strnlen keeps a hostile multi-megabyte password from being walked twice. */
static int password_length(const char *password, size_t *len)
{
    if (!password) {
        return 0;
    }
    *len = strnlen(password, JKLG_PASSWORD_MAX_BYTES + 1);
    return *len <= JKLG_PASSWORD_MAX_BYTES;
}

apr_status_t jklg_password_hash(apr_pool_t *p, const char *password,
                                jklg_pwhash_level_t level, const char **hash)
{
    const level_params_t *lp = level_params(level);
    char out[crypto_pwhash_STRBYTES];
    size_t len;

    /* A hash of an over-long password could never be verified. */
    if (!password_length(password, &len)) {
        return APR_EINVAL;
    }
    if (crypto_pwhash_str_alg(out, password, len, lp->opslimit, lp->memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return APR_ENOMEM;
    }
    *hash = apr_pstrdup(p, out);
    return APR_SUCCESS;
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* $2x$ (hashes from the sign-extension bug) is not accepted: neither the
 * old backend nor bcryptjs ever wrote it. */
static int is_bcrypt(const char *hash)
{
    return has_prefix(hash, "$2a$") || has_prefix(hash, "$2b$")
           || has_prefix(hash, "$2y$");
}

static jklg_password_result_t verify_argon2id(const char *hash,
                                              const char *password,
                                              size_t len,
                                              jklg_pwhash_level_t level)
{
    const level_params_t *lp = level_params(level);

    /* -1 also means "out of memory" here: failing closed is the only safe
     * reading. */
    if (crypto_pwhash_str_verify(hash, password, len) != 0) {
        return JKLG_PASSWORD_MISMATCH;
    }
    if (crypto_pwhash_str_needs_rehash(hash, lp->opslimit, lp->memlimit)) {
        return JKLG_PASSWORD_OK_REHASH;
    }
    return JKLG_PASSWORD_OK;
}

/* Hashes the first BCRYPT_KEY_BYTES bytes only: the same key bcrypt itself
 * would use, so that passwords libcrypt finds too long still match what
 * the old backend stored. A correct bcrypt password is always upgraded. */
static jklg_password_result_t verify_bcrypt(const char *hash,
                                            const char *password,
                                            size_t len)
{
    /* 32 KiB: too much for a small Apache thread stack (ThreadStackSize). */
    struct crypt_data *data = calloc(1, sizeof(*data));
    const char *out;
    size_t hash_len = strlen(hash);
    int match = 0;

    if (!data) {
        return JKLG_PASSWORD_MISMATCH;
    }
    if (len > BCRYPT_KEY_BYTES) {
        len = BCRYPT_KEY_BYTES;
    }
    memcpy(data->input, password, len);
    data->input[len] = '\0';
    out = crypt_rn(data->input, hash, data, sizeof(*data));
    if (out && strlen(out) == hash_len) {
        match = sodium_memcmp(out, hash, hash_len) == 0;
    }
    sodium_memzero(data, sizeof(*data));
    free(data);
    return match ? JKLG_PASSWORD_OK_REHASH : JKLG_PASSWORD_MISMATCH;
}

jklg_password_result_t jklg_password_verify(const char *hash,
                                            const char *password,
                                            jklg_pwhash_level_t level)
{
    size_t len;

    if (!hash || !password_length(password, &len)) {
        return JKLG_PASSWORD_MISMATCH;
    }
    if (has_prefix(hash, ARGON2ID_PREFIX)) {
        return verify_argon2id(hash, password, len, level);
    }
    if (is_bcrypt(hash)) {
        return verify_bcrypt(hash, password, len);
    }
    return JKLG_PASSWORD_MISMATCH;
}

/* Same path as a real verification, early exits included, so an unknown
 * email and a known one cost the same. */
void jklg_password_dummy_verify(const char *password,
                                jklg_pwhash_level_t level)
{
    (void)jklg_password_verify(level_params(level)->dummy_hash, password,
                               level);
}

/* --- policy ---------------------------------------------------------- */

typedef struct {
    apr_size_t chars;
    int distinct;                       /* capped at MIN_DISTINCT_CHARS */
    apr_uint32_t seen[MIN_DISTINCT_CHARS];
    int narrow;                         /* only one- and two-byte chars */
} text_stats_t;

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no NUL), or 0. */
static int utf8_decode(const unsigned char *s, apr_uint32_t *cp)
{
    apr_uint32_t c = s[0];
    apr_uint32_t min;
    int n;
    int i;

    if (c < 0x80) {
        *cp = c;
        return c != 0;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
        min = 0x80;
    }
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
        min = 0x800;
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    }
    else {
        return 0;
    }
    /* A continuation test also stops at the terminating NUL. */
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return n;
}

static void note_char(text_stats_t *st, apr_uint32_t cp)
{
    int i;

    st->chars++;
    if (cp >= 0x800) {
        st->narrow = 0;
    }
    if (st->distinct == MIN_DISTINCT_CHARS) {
        return;
    }
    for (i = 0; i < st->distinct; i++) {
        if (st->seen[i] == cp) {
            return;
        }
    }
    st->seen[st->distinct++] = cp;
}

static apr_status_t text_stats(const char *s, text_stats_t *st)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_uint32_t cp;
    int n;

    memset(st, 0, sizeof(*st));
    st->narrow = 1;
    while (*u) {
        if (!(n = utf8_decode(u, &cp))) {
            return APR_EINVAL;
        }
        note_char(st, cp);
        u += n;
    }
    return APR_SUCCESS;
}

/* cracklib keeps its state in static buffers, so one check at a time per
 * process. Its verdicts go through gettext: the check runs in the C locale
 * of this thread, or a translated verdict would slip past the comparison
 * below and everything would be accepted. */
static pthread_mutex_t cracklib_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t cracklib_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void cracklib_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The dictionary is optional: without it there is nothing to look up and
 * the check is skipped rather than refusing every password. */
static int dictionary_present(apr_pool_t *p, const char *dict)
{
    return access(apr_pstrcat(p, dict, ".pwd", NULL), R_OK) == 0
           && access(apr_pstrcat(p, dict, ".pwi", NULL), R_OK) == 0;
}

static int verdict_in(const char *verdict, const char *const *list)
{
    for (; *list; list++) {
        if (!strcmp(verdict, *list)) {
            return 1;
        }
    }
    return 0;
}

/* Only the verdicts about guessability refuse a password; the username and
 * password-entry ones are about the server's own Unix account. cracklib's
 * character heuristics count bytes. In one- and two-byte UTF-8 that is
 * harmless: lead bytes (C2-DF) and continuation bytes (80-BF) are never
 * "adjacent", and five different code points always take five different
 * bytes. Three- and four-byte characters share bytes, so CJK text looks
 * "systematic" to cracklib: there only the dictionary verdicts count, and
 * MIN_DISTINCT_CHARS catches repetition in code points. */
static int verdict_rejects(const char *verdict, int narrow)
{
    static const char *const dictionary[] = {
        "it is based on a dictionary word",
        "it is based on a (reversed) dictionary word",
        NULL
    };
    static const char *const bytewise[] = {
        "it is too simplistic/systematic",
        "it does not contain enough DIFFERENT characters",
        NULL
    };

    if (!verdict) {
        return 0;
    }
    return verdict_in(verdict, dictionary)
           || (narrow && verdict_in(verdict, bytewise));
}

/* The first CRACKLIB_MAX_BYTES bytes, cut before a split character. */
static const char *cracklib_input(apr_pool_t *p, const char *password)
{
    apr_size_t len = strlen(password);

    if (len <= CRACKLIB_MAX_BYTES) {
        return password;
    }
    len = CRACKLIB_MAX_BYTES;
    while (len > 0 && ((unsigned char)password[len] & 0xc0) == 0x80) {
        len--;
    }
    return apr_pstrndup(p, password, len);
}

static int cracklib_rejects(apr_pool_t *p, const char *password, int narrow)
{
    const char *dict = GetDefaultCracklibDict();
    const char *input = cracklib_input(p, password);
    locale_t previous = (locale_t)0;
    int rejects;

    if (!dictionary_present(p, dict)) {
        return 0;
    }
    pthread_once(&cracklib_once, cracklib_init);
    pthread_mutex_lock(&cracklib_mutex);
    if (c_locale) {
        previous = uselocale(c_locale);
    }
    /* An explicit (empty) user skips cracklib's getpwuid() of the Apache
     * user: no NSS lookup, and no "not registered in the password file"
     * that would end the check before the dictionary is consulted. */
    rejects = verdict_rejects(FascistCheckUser(input, dict, "", NULL),
                              narrow);
    if (previous) {
        uselocale(previous);
    }
    pthread_mutex_unlock(&cracklib_mutex);
    return rejects;
}

static int is_common(apr_pool_t *p, const char *password,
                     const text_stats_t *st)
{
    return st->distinct < MIN_DISTINCT_CHARS
           || cracklib_rejects(p, password, st->narrow);
}

const char *jklg_password_policy(apr_pool_t *p, const char *password,
                                 const char *email, int min_chars)
{
    text_stats_t st;

    if (!password) {
        password = "";
    }
    if (strnlen(password, JKLG_PASSWORD_MAX_BYTES + 1)
        > JKLG_PASSWORD_MAX_BYTES) {
        return apr_psprintf(p, "must be at most %d bytes",
                            JKLG_PASSWORD_MAX_BYTES);
    }
    if (text_stats(password, &st) != APR_SUCCESS) {
        return "must be valid UTF-8 text";
    }
    if (min_chars > 0 && st.chars < (apr_size_t)min_chars) {
        return apr_psprintf(p, "must be at least %d characters", min_chars);
    }
    /* ASCII case folding only: stored emails are ASCII and lowercased. */
    if (email && !apr_cstr_casecmp(password, email)) {
        return "must not be the same as the email address";
    }
    if (is_common(p, password, &st)) {
        return "is too common, choose another";
    }
    return NULL;
}

/* --- gate ------------------------------------------------------------ */

struct jklg_gate_t {
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    int limit;
    int inside;
};

apr_status_t jklg_gate_create(jklg_gate_t **gate, int limit, apr_pool_t *p)
{
    jklg_gate_t *g;
    apr_status_t rv;

    if (limit < 1) {
        return APR_EINVAL;
    }
    g = apr_pcalloc(p, sizeof(*g));
    g->limit = limit;
    rv = apr_thread_mutex_create(&g->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&g->cond, p);
    }
    if (rv == APR_SUCCESS) {
        *gate = g;
    }
    return rv;
}

void jklg_gate_enter(jklg_gate_t *gate)
{
    if (!gate) {
        return;     /* no gate could be made: logged at child start */
    }
    apr_thread_mutex_lock(gate->mutex);
    while (gate->inside >= gate->limit) {
        apr_thread_cond_wait(gate->cond, gate->mutex);
    }
    gate->inside++;
    apr_thread_mutex_unlock(gate->mutex);
}

void jklg_gate_leave(jklg_gate_t *gate)
{
    if (!gate) {
        return;
    }
    apr_thread_mutex_lock(gate->mutex);
    gate->inside--;
    apr_thread_mutex_unlock(gate->mutex);
    /* One place freed, one waiter to wake. */
    apr_thread_cond_signal(gate->cond);
}
