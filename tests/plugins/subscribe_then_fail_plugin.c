/* A plain C plugin (no C++ wrapper to undo what it did) that subscribes, opens protocol
 * clients and queues work, both on the loop thread and from a thread of its own, then fails
 * start(). The host must drop all of it: nothing may later reach its freed state or its
 * unloaded library (the daemon must stay up, and clean under ASan). */
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

static void task(void* user) { (void)user; }

static void send(const ccmux_host_api* host, uint64_t client, const char* json) {
  host->client_send(host->host, client, json, strlen(json));
}

/* Only calls that do not wait for the loop: the thread below runs while the loop is busy in
 * start(), which joins it. */
static void queue_everything(const ccmux_host_api* host) {
  uint64_t client = host->client_open(host->host, "doomed", on_message, NULL);
  send(host, client, "{\"type\":\"hello\",\"protocol\":1,\"watch_approvals\":true}");
  send(host, client, "{\"type\":\"request\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"session\":\"*\"}}");
  host->client_set_ready(host->host, client, 1);
  host->post(host->host, task, NULL);
}

static void* thread_main(void* arg) {
  queue_everything((const ccmux_host_api*)arg);
  return NULL;
}

static int start(const ccmux_host_api* host, const char* config, size_t len, void** state, char* err,
                 size_t err_len) {
  pthread_t thread;
  (void)config;
  (void)len;
  *state = NULL;
  /* On the loop thread: these take effect at once. */
  if (host->subscribe(host->host, "*", 0, on_event, NULL) == 0) {
    snprintf(err, err_len, "subscribe failed");
    return 1;
  }
  queue_everything(host);
  /* From another thread: queued on the loop, to run after start() has returned. */
  if (pthread_create(&thread, NULL, thread_main, (void*)host) == 0) pthread_join(thread, NULL);
  snprintf(err, err_len, "deliberately failing after subscribing");
  return 1;
}

static const ccmux_plugin_descriptor descriptor = {
    sizeof(ccmux_plugin_descriptor),
    CCMUX_SDK_VERSION_MAJOR,
    CCMUX_SDK_VERSION_MINOR,
    CCMUX_ABI_FINGERPRINT,
    "subscribe_then_fail",
    "0.0.1",
    "subscribes, opens clients and queues work, then fails to start",
    NULL,
    0,
    start,
    NULL,
    NULL,
    0,
};

static const ccmux_plugin_descriptor* entry(void) { return &descriptor; }

/* What BOOST_DLL_ALIAS exports: a variable holding the entry function's address. */
__attribute__((visibility("default"))) const ccmux_plugin_entry_fn ccmux_plugin_entry_v1 = entry;
