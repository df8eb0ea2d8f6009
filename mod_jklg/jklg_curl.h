/* Small libcurl helpers shared by the SMTP and Stripe clients. */
#ifndef JKLG_CURL_H
#define JKLG_CURL_H

#include <curl/curl.h>

/* Appends s to *list; 0 when out of memory (*list is then unchanged, so
 * the caller still frees what it had). */
int jklg_slist_add(struct curl_slist **list, const char *s);

#endif
