/* Logs what subscribe and client_send return where plugin_abi.h promises an error code (0,
 * -1): an unknown session, no callback, an unknown or closed client. Once from start() on the
 * loop thread, once from a thread of its own (joined in stop). */
#include <ccmux/plugin_abi.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void on_event(void* user, const ccmux_event* ev) {
  (void)user;
  (void)ev;
}

static void on_message(void* user, const char* json, size_t len) {
  (void)user;
  (void)json;
  (void)len;
}

static void report(const ccmux_host_api* host, const char* where) {
  static const char hello[] = "{\"type\":\"hello\",\"protocol\":1}";
  char line[512];
  uint64_t unknown = host->subscribe(host->host, "no-such-session", 1, on_event, NULL);
  uint64_t no_fn = host->subscribe(host->host, "*", 0, NULL, NULL);
  uint64_t every = host->subscribe(host->host, "*", 0, on_event, NULL);
  int send_unknown = host->client_send(host->host, 987654321u, "{}", 2);
  uint64_t client = host->client_open(host->host, "probe", on_message, NULL);
  int send_open = host->client_send(host->host, client, hello, strlen(hello));
  host->client_close(host->host, client);
  int send_closed = host->client_send(host->host, client, "{}", 2);
  snprintf(line, sizeof line,
           "codes %s: subscribe unknown session=%llu, no callback=%llu, every session=%s; "
           "client_send unknown=%d, open=%d, closed=%d",
           where, (unsigned long long)unknown, (unsigned long long)no_fn, every ? "an id" : "0", send_unknown,
           send_open, send_closed);
  host->log(host->host, CCMUX_LOG_INFO, line);
  host->unsubscribe(host->host, every);
}

static pthread_t thread;

static void* thread_main(void* arg) {
  report((const ccmux_host_api*)arg, "thread");
  return NULL;
}

static int start(const ccmux_host_api* host, const char* config, size_t len, void** state, char* err,
                 size_t err_len) {
  (void)config;
  (void)len;
  *state = NULL;
  report(host, "loop");
  /* Not joined here: its calls that wait for the loop are served once start() returns. */
  if (pthread_create(&thread, NULL, thread_main, (void*)host) != 0) {
    snprintf(err, err_len, "cannot start a thread");
    return 1;
  }
  return 0;
}

static void stop(void* state) {
  (void)state;
  pthread_join(thread, NULL);
}

static const ccmux_plugin_descriptor descriptor = {
    sizeof(ccmux_plugin_descriptor),
    CCMUX_SDK_VERSION_MAJOR,
    CCMUX_SDK_VERSION_MINOR,
    CCMUX_ABI_FINGERPRINT,
    "return_codes",
    "0.0.1",
    "logs the error codes of subscribe and client_send",
    NULL,
    0,
    start,
    stop,
    NULL,
    0,
};

static const ccmux_plugin_descriptor* entry(void) { return &descriptor; }

/* What BOOST_DLL_ALIAS exports: a variable holding the entry function's address. */
__attribute__((visibility("default"))) const ccmux_plugin_entry_fn ccmux_plugin_entry_v1 = entry;
