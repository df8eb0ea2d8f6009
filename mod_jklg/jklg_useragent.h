/* The browser family of a User-Agent header, for new-device alerts: a
 * sign-in is from a known device when its IP prefix and browser family
 * were seen on the account lately. Coarse on purpose: version numbers and
 * OS updates must not look like a new device. */
#ifndef JKLG_USERAGENT_H
#define JKLG_USERAGENT_H

/* One of "Firefox", "Chrome", "Edge", "Safari", "Opera", "curl" or
 * "other" (also for NULL and empty); a static string. */
const char *jklg_browser_family(const char *user_agent);

#endif
