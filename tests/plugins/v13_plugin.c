/* A plugin built against the real SDK 1.3 header (tests/abi/plugin_abi_1_3.h), as one built
 * before 1.4 is: a smaller descriptor, 1.0-style config keys, and a header that promises -1
 * (not CCMUX_ERR_STOPPING) from refused calls. It logs the config it got, and from a thread
 * of its own calls kv_get until stop() joins it, then logs the codes it saw. */
#include "../abi/plugin_abi_1_3.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const ccmux_host_api* host;
static pthread_t thread;
static volatile int stopping;
static int served, minus_one, other;

static void ignore(void* user, const char* value, size_t len) {
  (void)user;
  (void)value;
  (void)len;
}

static void* spin(void* arg) {
  (void)arg;
  struct timespec ms = {0, 1000000};
  while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
    int rc = host->kv_get(host->host, "key", ignore, NULL);
    if (rc == 0 || rc == 1) served++;
    else if (rc == -1) __atomic_add_fetch(&minus_one, 1, __ATOMIC_RELEASE);
    else other++;
    if (rc != 0 && rc != 1) nanosleep(&ms, NULL);
  }
  return NULL;
}

static int start(const ccmux_host_api* api, const char* config, size_t len, void** state, char* err, size_t err_len) {
  char line[600];
  *state = NULL;
  host = api;
  snprintf(line, sizeof line, "v13: sdk 1.3 plugin got config %.*s", (int)len, config);
  api->log(api->host, CCMUX_LOG_INFO, line);
  if (pthread_create(&thread, NULL, spin, NULL) != 0) {
    snprintf(err, err_len, "cannot start a thread");
    return 1;
  }
  return 0;
}

static void stop(void* state) {
  char line[200];
  struct timespec ms = {0, 10000000};
  int i;
  (void)state;
  /* Lets the thread call the host during stop() itself (up to 3 s): those calls are refused. */
  for (i = 0; i < 300 && !__atomic_load_n(&minus_one, __ATOMIC_ACQUIRE); ++i) nanosleep(&ms, NULL);
  __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
  pthread_join(thread, NULL);
  snprintf(line, sizeof line, "v13: refused with -1: %s, with another code: %d, served: %s", minus_one ? "yes" : "no",
           other, served ? "yes" : "no");
  host->log(host->host, CCMUX_LOG_INFO, line);
}

static const ccmux_config_key keys[] = {
    {"greeting", CCMUX_CFG_STRING, 0, "a word"},
    {"count", CCMUX_CFG_INT, 0, "a number"},
};

static const ccmux_plugin_descriptor descriptor = {
    sizeof(ccmux_plugin_descriptor), 1, 3, CCMUX_ABI_FINGERPRINT, "v13", "1.3.0", "built against the SDK 1.3 header",
    keys, 2, start, stop,
};

static const ccmux_plugin_descriptor* entry(void) { return &descriptor; }

__attribute__((visibility("default"))) const ccmux_plugin_entry_fn ccmux_plugin_entry_v1 = entry;
