/* Unit tests of jklg_password.c: levels, argon2id hashing and rehash,
 * bcrypt import, unknown formats, the policy, and the hash gate.
 *
 * Hashing runs at interactive (64 MiB) only, once at moderate (256 MiB);
 * sensitive (1 GiB) is only parsed and sized. */
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>
#include <crack.h>
#include <sodium.h>
#include "suites.h"
#include "jklg_password.h"

#define MIB ((apr_size_t)1024 * 1024)

/* Made with `htpasswd -nbB -C 5 user <password>` (apache2-utils) when the
 * tests were written; bcryptjs writes the same digests as $2a$/$2b$. */
#define BCRYPT_SHORT_PW "correct-horse-42"
#define BCRYPT_SHORT \
    "$2y$05$qgO91rc1QDi1pltWY4hZ4OyBI7r7SCiuR/jOsYOfWP69FAMsuEb0q"
#define BCRYPT_UTF8_PW "p\xc3\xa4ssw\xc3\xb6rd-\xc3\xa9-\xc3\xbcn\xc3\xaf" "code"
#define BCRYPT_UTF8 \
    "$2y$05$y6GW9CRDZRkH6u.eURIzs.4a/x2fE.zeZWU0uOAseS38dBzkNmvDq"
/* bcryptjs' default cost. */
#define BCRYPT_COST10_PW "Tr4vel-to-Lisbon-2026!"
#define BCRYPT_COST10 \
    "$2y$10$65oaV4Qzewtks1PggUAuBeWPj.gFuND9GVmFZxVLB4jDHaRR5DLEq"
/* Of "Lisbon-Porto-Faro-" four times: exactly 72 bytes. */
#define BCRYPT_72_UNIT "Lisbon-Porto-Faro-"
#define BCRYPT_72 \
    "$2y$05$8KqOD2NsFD.vlo3q8/mk3eiuB8WmA8l/wkpTlKGveCPGZcOrqXmVm"

static const char *with_prefix(const char *hash, const char *prefix)
{
    return apr_pstrcat(test_pool, prefix, hash + 4, NULL);
}

/* `len` bytes of `unit` repeated. */
static char *repeat(const char *unit, apr_size_t len)
{
    char *s = apr_palloc(test_pool, len + 1);
    apr_size_t n = strlen(unit);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        s[i] = unit[i % n];
    }
    s[len] = '\0';
    return s;
}

/* --- levels ----------------------------------------------------------- */

START_TEST(level_names)
{
    jklg_pwhash_level_t level = JKLG_PWHASH_SENSITIVE;

    ck_assert_int_eq(jklg_pwhash_level_parse("interactive", &level),
                     APR_SUCCESS);
    ck_assert_int_eq(level, JKLG_PWHASH_INTERACTIVE);
    ck_assert_int_eq(jklg_pwhash_level_parse("moderate", &level),
                     APR_SUCCESS);
    ck_assert_int_eq(level, JKLG_PWHASH_MODERATE);
    ck_assert_int_eq(jklg_pwhash_level_parse("sensitive", &level),
                     APR_SUCCESS);
    ck_assert_int_eq(level, JKLG_PWHASH_SENSITIVE);
    /* Directive keywords are case-insensitive in httpd. */
    ck_assert_int_eq(jklg_pwhash_level_parse("Moderate", &level),
                     APR_SUCCESS);
    ck_assert_int_eq(level, JKLG_PWHASH_MODERATE);
}
END_TEST

START_TEST(level_rejects)
{
    jklg_pwhash_level_t level = JKLG_PWHASH_MODERATE;

    ck_assert_int_eq(jklg_pwhash_level_parse("", &level), APR_EINVAL);
    ck_assert_int_eq(jklg_pwhash_level_parse("fast", &level), APR_EINVAL);
    ck_assert_int_eq(jklg_pwhash_level_parse("interactive ", &level),
                     APR_EINVAL);
    ck_assert_int_eq(jklg_pwhash_level_parse(NULL, &level), APR_EINVAL);
    ck_assert_int_eq(level, JKLG_PWHASH_MODERATE);
}
END_TEST

START_TEST(level_memory)
{
    ck_assert_uint_eq(jklg_pwhash_memory(JKLG_PWHASH_INTERACTIVE), 64 * MIB);
    ck_assert_uint_eq(jklg_pwhash_memory(JKLG_PWHASH_MODERATE), 256 * MIB);
    ck_assert_uint_eq(jklg_pwhash_memory(JKLG_PWHASH_SENSITIVE), 1024 * MIB);
}
END_TEST

/* The dummy hashes in jklg_password.c were made at these limits (t=2,3,4
 * with 64, 256, 1024 MiB); if libsodium ever changes them, the dummies must
 * be made again or unknown emails get cheaper than known ones. */
START_TEST(level_limits_of_dummies)
{
    ck_assert_uint_eq(crypto_pwhash_OPSLIMIT_INTERACTIVE, 2);
    ck_assert_uint_eq(crypto_pwhash_OPSLIMIT_MODERATE, 3);
    ck_assert_uint_eq(crypto_pwhash_OPSLIMIT_SENSITIVE, 4);
    ck_assert_uint_eq(crypto_pwhash_MEMLIMIT_INTERACTIVE, 64 * MIB);
    ck_assert_uint_eq(crypto_pwhash_MEMLIMIT_MODERATE, 256 * MIB);
    ck_assert_uint_eq(crypto_pwhash_MEMLIMIT_SENSITIVE, 1024 * MIB);
}
END_TEST

/* --- argon2id --------------------------------------------------------- */

START_TEST(hash_then_verify)
{
    const char *hash = NULL;
    const char *pw = "Tr4vel-to-Lisbon-2026!";

    ck_assert_int_eq(jklg_password_hash(test_pool, pw,
                                        JKLG_PWHASH_INTERACTIVE, &hash),
                     APR_SUCCESS);
    ck_assert_msg(!strncmp(hash, "$argon2id$v=19$m=65536,t=2,p=1$", 31),
                  "unexpected hash %s", hash);
    ck_assert_int_eq(jklg_password_verify(hash, pw, JKLG_PWHASH_INTERACTIVE),
                     JKLG_PASSWORD_OK);
}
END_TEST

START_TEST(hash_salted)
{
    const char *a = NULL;
    const char *b = NULL;

    ck_assert_int_eq(jklg_password_hash(test_pool, "same password",
                                        JKLG_PWHASH_INTERACTIVE, &a),
                     APR_SUCCESS);
    ck_assert_int_eq(jklg_password_hash(test_pool, "same password",
                                        JKLG_PWHASH_INTERACTIVE, &b),
                     APR_SUCCESS);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(wrong_password)
{
    const char *hash = NULL;
    const char *pw = "Tr4vel-to-Lisbon-2026!";
    jklg_pwhash_level_t il = JKLG_PWHASH_INTERACTIVE;

    ck_assert_int_eq(jklg_password_hash(test_pool, pw, il, &hash),
                     APR_SUCCESS);
    ck_assert_int_eq(jklg_password_verify(hash, "tr4vel-to-Lisbon-2026!", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(hash, "Tr4vel-to-Lisbon-2026", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(hash, "Tr4vel-to-Lisbon-2026!!", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(hash, "", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(hash, NULL, il),
                     JKLG_PASSWORD_MISMATCH);
}
END_TEST

START_TEST(rehash_on_level_change)
{
    const char *hash = NULL;
    const char *pw = "correct horse battery staple";

    ck_assert_int_eq(jklg_password_hash(test_pool, pw,
                                        JKLG_PWHASH_INTERACTIVE, &hash),
                     APR_SUCCESS);
    ck_assert_int_eq(jklg_password_verify(hash, pw, JKLG_PWHASH_MODERATE),
                     JKLG_PASSWORD_OK_REHASH);
    /* A wrong password is a mismatch whatever the level. */
    ck_assert_int_eq(jklg_password_verify(hash, "correct horse battery",
                                          JKLG_PWHASH_MODERATE),
                     JKLG_PASSWORD_MISMATCH);
}
END_TEST

/* --- bcrypt import ---------------------------------------------------- */

static void assert_bcrypt(const char *hash, const char *pw, const char *wrong)
{
    static const char *const prefixes[] = { "$2y$", "$2a$", "$2b$" };
    const char *h;
    int i;

    for (i = 0; i < 3; i++) {
        h = with_prefix(hash, prefixes[i]);
        ck_assert_msg(jklg_password_verify(h, pw, JKLG_PWHASH_INTERACTIVE)
                      == JKLG_PASSWORD_OK_REHASH, "%s refused", h);
        ck_assert_msg(jklg_password_verify(h, wrong, JKLG_PWHASH_INTERACTIVE)
                      == JKLG_PASSWORD_MISMATCH, "%s took a wrong one", h);
    }
}

START_TEST(bcrypt_prefixes)
{
    assert_bcrypt(BCRYPT_SHORT, BCRYPT_SHORT_PW, "correct-horse-43");
    assert_bcrypt(BCRYPT_UTF8, BCRYPT_UTF8_PW, "passwoerd-e-uenicode");
    assert_bcrypt(BCRYPT_COST10, BCRYPT_COST10_PW, "Tr4vel-to-Lisbon-2025!");
}
END_TEST

START_TEST(bcrypt_buggy_and_malformed)
{
    jklg_pwhash_level_t il = JKLG_PWHASH_INTERACTIVE;

    /* $2x$ is crypt_blowfish's compatibility mode for a bug no importer
     * of ours ever had: refused even with the right password. */
    ck_assert_int_eq(jklg_password_verify(with_prefix(BCRYPT_SHORT, "$2x$"),
                                          BCRYPT_SHORT_PW, il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify("$2y$05$short", BCRYPT_SHORT_PW, il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify("$2y$", BCRYPT_SHORT_PW, il),
                     JKLG_PASSWORD_MISMATCH);
    /* The stored hash with a byte appended, or cut short. */
    ck_assert_int_eq(jklg_password_verify(BCRYPT_SHORT "x", BCRYPT_SHORT_PW,
                                          il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(apr_pstrndup(test_pool,
                                                       BCRYPT_SHORT, 59),
                                          BCRYPT_SHORT_PW, il),
                     JKLG_PASSWORD_MISMATCH);
}
END_TEST

/* bcrypt's own property, kept on import: only the first 72 bytes count. */
START_TEST(bcrypt_72_bytes)
{
    jklg_pwhash_level_t il = JKLG_PWHASH_INTERACTIVE;

    ck_assert_int_eq(jklg_password_verify(BCRYPT_72,
                                          repeat(BCRYPT_72_UNIT, 72), il),
                     JKLG_PASSWORD_OK_REHASH);
    ck_assert_int_eq(jklg_password_verify(BCRYPT_72,
                                          repeat(BCRYPT_72_UNIT, 71), il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(BCRYPT_72,
                                          apr_pstrcat(test_pool,
                                              repeat(BCRYPT_72_UNIT, 72),
                                              "anything", NULL), il),
                     JKLG_PASSWORD_OK_REHASH);
    /* libcrypt alone refuses passphrases of 512 bytes or more. */
    ck_assert_int_eq(jklg_password_verify(BCRYPT_72,
                                          repeat(BCRYPT_72_UNIT, 600), il),
                     JKLG_PASSWORD_OK_REHASH);
    ck_assert_int_eq(jklg_password_verify(BCRYPT_72,
                                          repeat(BCRYPT_72_UNIT, 1024), il),
                     JKLG_PASSWORD_OK_REHASH);
}
END_TEST

/* --- unknown formats and limits ---------------------------------------- */

START_TEST(unknown_formats)
{
    jklg_pwhash_level_t il = JKLG_PWHASH_INTERACTIVE;

    ck_assert_int_eq(jklg_password_verify("", "", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify("", "plain", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify("plain", "plain", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(NULL, "plain", il),
                     JKLG_PASSWORD_MISMATCH);
    /* md5-crypt of "x": libcrypt would accept it, we must not. */
    ck_assert_int_eq(jklg_password_verify("$1$abc$OGyl6dDvZCDiGmIVbeuCq/",
                                          "x", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify("$argon2id$v=19$garbage",
                                          "plain", il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify("$ARGON2ID$v=19$m=65536,t=2,p=1$"
                                          "SqWIsRIbspuY79IUCLCkkg$A/hm335NGF"
                                          "s9Hbr3xz6CJZn5yLBKLl9zFnW/gfsiBVM",
                                          "plain", il),
                     JKLG_PASSWORD_MISMATCH);
}
END_TEST

/* libsodium itself would verify an argon2i hash: the prefix check must
 * refuse it with the right password. */
START_TEST(argon2i_refused)
{
    char hash[crypto_pwhash_STRBYTES];
    const char *pw = "correct horse battery staple";

    ck_assert_int_eq(crypto_pwhash_argon2i_str(hash, pw, strlen(pw),
                         crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE,
                         crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE), 0);
    ck_assert_msg(!strncmp(hash, "$argon2i$", 9), "made %s", hash);
    ck_assert_int_eq(crypto_pwhash_str_verify(hash, pw, strlen(pw)), 0);
    ck_assert_int_eq(jklg_password_verify(hash, pw, JKLG_PWHASH_INTERACTIVE),
                     JKLG_PASSWORD_MISMATCH);
}
END_TEST

START_TEST(max_bytes)
{
    const char *hash = NULL;
    char *pw1024 = repeat("Lisbon-Porto-Faro-", 1024);
    char *pw1025 = repeat("Lisbon-Porto-Faro-", 1025);
    jklg_pwhash_level_t il = JKLG_PWHASH_INTERACTIVE;

    ck_assert_int_eq(jklg_password_hash(test_pool, pw1025, il, &hash),
                     APR_EINVAL);
    ck_assert_ptr_null(hash);
    ck_assert_int_eq(jklg_password_hash(test_pool, pw1024, il, &hash),
                     APR_SUCCESS);
    ck_assert_int_eq(jklg_password_verify(hash, pw1024, il),
                     JKLG_PASSWORD_OK);
    /* Same first 1024 bytes, one more: never a match, bcrypt included. */
    ck_assert_int_eq(jklg_password_verify(hash, pw1025, il),
                     JKLG_PASSWORD_MISMATCH);
    ck_assert_int_eq(jklg_password_verify(BCRYPT_72,
                                          repeat(BCRYPT_72_UNIT, 1025), il),
                     JKLG_PASSWORD_MISMATCH);
}
END_TEST

/* --- dummy ------------------------------------------------------------ */

START_TEST(dummy_interactive)
{
    apr_time_t start = apr_time_now();

    jklg_password_dummy_verify("Tr4vel-to-Lisbon-2026!",
                               JKLG_PWHASH_INTERACTIVE);
    jklg_password_dummy_verify("", JKLG_PWHASH_INTERACTIVE);
    jklg_password_dummy_verify(NULL, JKLG_PWHASH_INTERACTIVE);
    jklg_password_dummy_verify(repeat("x", 1025), JKLG_PWHASH_INTERACTIVE);
    /* Not a timing assertion: proof that an argon2id verification ran
     * (a rejected dummy would return in microseconds). */
    ck_assert_msg(apr_time_now() - start > 2000, "dummy did no work");
}
END_TEST

START_TEST(dummy_moderate)
{
    jklg_password_dummy_verify("Tr4vel-to-Lisbon-2026!", JKLG_PWHASH_MODERATE);
}
END_TEST

/* --- policy ----------------------------------------------------------- */

#define TOO_COMMON "is too common, choose another"
#define SAME_AS_EMAIL "must not be the same as the email address"
#define BAD_UTF8 "must be valid UTF-8 text"

static const char *policy(const char *pw)
{
    return jklg_password_policy(test_pool, pw, "ana.silva@example.com", 10);
}

static void assert_accepted(const char *pw)
{
    const char *msg = policy(pw);

    ck_assert_msg(msg == NULL, "'%s' refused: %s", pw, msg);
}

static void assert_refused(const char *pw, const char *expected)
{
    const char *msg = policy(pw);

    ck_assert_msg(msg != NULL, "'%s' accepted", pw);
    ck_assert_msg(!strcmp(msg, expected), "'%s': '%s', expected '%s'", pw,
                  msg, expected);
}

/* The dictionary is optional at run time, but these tests mean nothing
 * without it; cracklib-runtime is in scripts/deps.sh. */
static void require_dictionary(void)
{
    const char *pwd = apr_pstrcat(test_pool, GetDefaultCracklibDict(),
                                  ".pwd", NULL);

    ck_assert_msg(access(pwd, R_OK) == 0,
                  "%s missing: install cracklib-runtime", pwd);
}

START_TEST(policy_length_in_code_points)
{
    /* 9 and 10 code points of two bytes each. */
    assert_refused("\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc"
                   "\xc3\xa7\xc3\xb1\xc3\x9f\xc3\xb8",
                   "must be at least 10 characters");
    assert_accepted("\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc"
                    "\xc3\xa7\xc3\xb1\xc3\x9f\xc3\xb8\xc3\xa5");
    /* "ééééééééé": 18 bytes, 9 characters. */
    assert_refused(repeat("\xc3\xa9", 18), "must be at least 10 characters");
    /* Four-byte emoji count once each. */
    assert_refused("Lisbon\xf0\x9f\x99\x82\xf0\x9f\x8c\x8a\xe2\x9c\x88",
                   "must be at least 10 characters");
    assert_accepted("Lisboa\xf0\x9f\x99\x82\xf0\x9f\x8c\x8a\xe2\x9c\x88!");
    assert_refused("", "must be at least 10 characters");
    ck_assert_str_eq(jklg_password_policy(test_pool, "Lisbon-2026",
                                          NULL, 12),
                     "must be at least 12 characters");
    ck_assert_ptr_null(jklg_password_policy(test_pool, "Lisbon-2026",
                                            NULL, 11));
}
END_TEST

START_TEST(policy_max_bytes)
{
    const char *phrase = "I first visited Lisbon on the 2nd of August, ";

    assert_accepted(repeat(phrase, 1024));
    assert_refused(repeat(phrase, 1025), "must be at most 1024 bytes");
    /* 513 two-byte characters: bytes count, not characters. */
    assert_refused(repeat("\xc3\xa9\xc3\xa0", 1026),
                   "must be at most 1024 bytes");
}
END_TEST

START_TEST(policy_utf8)
{
    assert_refused("Lisbon-2026\xff", BAD_UTF8);
    assert_refused("\xfeLisbon-2026", BAD_UTF8);
    /* Overlong NUL, overlong '/', surrogates, beyond U+10FFFF. */
    assert_refused("Lisbon-2026\xc0\x80", BAD_UTF8);
    assert_refused("Lisbon-2026\xc1\xaf", BAD_UTF8);
    assert_refused("Lisbon-2026\xe0\x80\xaf", BAD_UTF8);
    assert_refused("Lisbon-2026\xed\xa0\x80", BAD_UTF8);
    assert_refused("Lisbon-2026\xed\xbf\xbf", BAD_UTF8);
    assert_refused("Lisbon-2026\xf4\x90\x80\x80", BAD_UTF8);
    assert_refused("Lisbon-2026\xf5\x80\x80\x80", BAD_UTF8);
    /* Cut sequences, a stray continuation byte. */
    assert_refused("Lisbon-2026\xc3", BAD_UTF8);
    assert_refused("Lisbon-2026\xe2\x9c", BAD_UTF8);
    assert_refused("Lisbon-\x80-2026", BAD_UTF8);
    /* The last valid code points on either side of the gaps. */
    assert_accepted("Lisbon-2026\xed\x9f\xbf");
    assert_accepted("Lisbon-2026\xee\x80\x80");
    assert_accepted("Lisbon-2026\xf4\x8f\xbf\xbf");
}
END_TEST

START_TEST(policy_email)
{
    assert_refused("ana.silva@example.com", SAME_AS_EMAIL);
    assert_refused("Ana.Silva@EXAMPLE.com", SAME_AS_EMAIL);
    assert_accepted("ana.silva@example.com!");
    ck_assert_ptr_null(jklg_password_policy(test_pool,
                                            "ana.silva@example.com",
                                            NULL, 10));
}
END_TEST

START_TEST(policy_common)
{
    require_dictionary();
    assert_refused("password123", TOO_COMMON);
    assert_refused("qwertyuiop", TOO_COMMON);
    assert_refused("1234567890", TOO_COMMON);
    assert_refused("iloveyou12", TOO_COMMON);
    assert_refused("Password123", TOO_COMMON);
    assert_refused("abcdefghij", TOO_COMMON);
    assert_refused("qwerty123456", TOO_COMMON);
    /* An accent does not turn a sequence into a secret. */
    assert_refused("1234567890\xc3\xa9", TOO_COMMON);
    /* Long passwords are judged on their first 32 bytes. */
    assert_refused(repeat("1234567890", 40), TOO_COMMON);
    assert_refused(repeat("abcdefghijklmnopqrstuvwxyz", 60), TOO_COMMON);
}
END_TEST

/* Repetition is counted in code points and needs no dictionary. */
START_TEST(policy_repetition)
{
    assert_refused("aaaaaaaaaa", TOO_COMMON);
    assert_refused("          ", TOO_COMMON);
    assert_refused("abababababab", TOO_COMMON);
    /* "éééééééééé": 10 characters of one kind, like "aaaaaaaaaa". */
    assert_refused(repeat("\xc3\xa9", 20), TOO_COMMON);
    /* Four different kanji, repeated. */
    assert_refused(repeat("\xe6\x97\x85\xe8\xa1\x8c\xe5\xa4\xa7\xe5\xa5\xbd",
                          36), TOO_COMMON);
}
END_TEST

START_TEST(policy_passphrases)
{
    require_dictionary();
    assert_accepted("correct horse battery staple");
    assert_accepted("Tr4vel-to-Lisbon-2026!");
    assert_accepted("I first visited Lisbon on the 2nd of August");
    /* cracklib alone would call this systematic (too many "st", "on",
     * "ed" for its length). */
    assert_accepted("we stayed on in Lisbon for the first stone festival, "
                    "then onto Porto");
    assert_accepted("Lisbon-Porto-Faro");
    /* Japanese ("my cat is black"). */
    assert_accepted("\xe3\x82\x8f\xe3\x81\x9f\xe3\x81\x97\xe3\x81\xae"
                    "\xe3\x81\xad\xe3\x81\x93\xe3\x81\xaf\xe3\x81\x8f"
                    "\xe3\x82\x8d\xe3\x81\x84\xe3\x81\xa7\xe3\x81\x99");
    /* Ten kana whose bytes step by one (E3 81 82, E3 82 81, ...): cracklib
     * calls that "systematic"; as characters it is not. */
    assert_accepted("\xe3\x81\x82\xe3\x82\x81\xe3\x83\xa2\xe3\x83\x84"
                    "\xe3\x82\x83\xe3\x83\x84\xe3\x83\xa2\xe3\x82\x81"
                    "\xe3\x81\x82\xe3\x82\x83");
}
END_TEST

/* cracklib is serialised inside; answers stay right under contention. */
typedef struct {
    int wrong;
} policy_worker_t;

static void *APR_THREAD_FUNC policy_worker(apr_thread_t *thread, void *arg)
{
    policy_worker_t *w = arg;
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 40; i++) {
        if (jklg_password_policy(p, "correct horse battery staple",
                                 NULL, 10) != NULL
            || jklg_password_policy(p, "password123", NULL, 10) == NULL) {
            w->wrong++;
        }
    }
    apr_pool_destroy(p);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

START_TEST(policy_threads)
{
    apr_thread_t *threads[4];
    policy_worker_t workers[4];
    apr_status_t rv;
    int i;

    require_dictionary();
    memset(workers, 0, sizeof(workers));
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(apr_thread_create(&threads[i], NULL, policy_worker,
                                           &workers[i], test_pool),
                         APR_SUCCESS);
    }
    for (i = 0; i < 4; i++) {
        apr_thread_join(&rv, threads[i]);
        ck_assert_int_eq(workers[i].wrong, 0);
    }
}
END_TEST

/* --- gate ------------------------------------------------------------- */

typedef struct {
    jklg_gate_t *gate;
    apr_thread_mutex_t *mutex;
    int inside;
    int max_inside;
} gate_probe_t;

static void *APR_THREAD_FUNC gate_worker(apr_thread_t *thread, void *arg)
{
    gate_probe_t *probe = arg;

    jklg_gate_enter(probe->gate);
    apr_thread_mutex_lock(probe->mutex);
    if (++probe->inside > probe->max_inside) {
        probe->max_inside = probe->inside;
    }
    apr_thread_mutex_unlock(probe->mutex);

    apr_sleep(apr_time_from_msec(20));

    apr_thread_mutex_lock(probe->mutex);
    probe->inside--;
    apr_thread_mutex_unlock(probe->mutex);
    jklg_gate_leave(probe->gate);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

START_TEST(gate_limits_holders)
{
    apr_thread_t *threads[8];
    gate_probe_t probe;
    apr_status_t rv;
    int i;

    memset(&probe, 0, sizeof(probe));
    ck_assert_int_eq(jklg_gate_create(&probe.gate, 2, test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_thread_mutex_create(&probe.mutex,
                                             APR_THREAD_MUTEX_DEFAULT,
                                             test_pool), APR_SUCCESS);
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(apr_thread_create(&threads[i], NULL, gate_worker,
                                           &probe, test_pool), APR_SUCCESS);
    }
    for (i = 0; i < 8; i++) {
        apr_thread_join(&rv, threads[i]);
    }
    ck_assert_int_eq(probe.max_inside, 2);
    ck_assert_int_eq(probe.inside, 0);
}
END_TEST

START_TEST(gate_rejects_limit)
{
    jklg_gate_t *gate = NULL;

    ck_assert_int_eq(jklg_gate_create(&gate, 0, test_pool), APR_EINVAL);
    ck_assert_int_eq(jklg_gate_create(&gate, -1, test_pool), APR_EINVAL);
    ck_assert_ptr_null(gate);
    ck_assert_int_eq(jklg_gate_create(&gate, 1, test_pool), APR_SUCCESS);
    jklg_gate_enter(gate);
    jklg_gate_leave(gate);
    jklg_gate_enter(gate);
    jklg_gate_leave(gate);
}
END_TEST

Suite *suite_password(void)
{
    Suite *s = suite_create("password");
    TCase *tc = tcase_create("password");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    /* Each argon2id hash at interactive takes tens of milliseconds, more
     * under sanitizers or valgrind. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, level_names);
    tcase_add_test(tc, level_rejects);
    tcase_add_test(tc, level_memory);
    tcase_add_test(tc, level_limits_of_dummies);
    tcase_add_test(tc, hash_then_verify);
    tcase_add_test(tc, hash_salted);
    tcase_add_test(tc, wrong_password);
    tcase_add_test(tc, rehash_on_level_change);
    tcase_add_test(tc, bcrypt_prefixes);
    tcase_add_test(tc, bcrypt_buggy_and_malformed);
    tcase_add_test(tc, bcrypt_72_bytes);
    tcase_add_test(tc, unknown_formats);
    tcase_add_test(tc, argon2i_refused);
    tcase_add_test(tc, max_bytes);
    tcase_add_test(tc, dummy_interactive);
    tcase_add_test(tc, dummy_moderate);
    tcase_add_test(tc, policy_length_in_code_points);
    tcase_add_test(tc, policy_max_bytes);
    tcase_add_test(tc, policy_utf8);
    tcase_add_test(tc, policy_email);
    tcase_add_test(tc, policy_common);
    tcase_add_test(tc, policy_repetition);
    tcase_add_test(tc, policy_passphrases);
    tcase_add_test(tc, policy_threads);
    tcase_add_test(tc, gate_limits_holders);
    tcase_add_test(tc, gate_rejects_limit);
    suite_add_tcase(s, tc);
    return s;
}
