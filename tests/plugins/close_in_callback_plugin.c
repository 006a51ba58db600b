/* Closes its protocol client from inside that client's own callback, in the middle of a
 * replay: when a session's turn ends it opens a client, subscribes it to the session from
 * seq 1 and, at the first replayed event, calls client_close. The daemon is still delivering
 * that replay and handling the subscribe request to this client when it returns; nothing may
 * reach the client (or the plugin through it) afterwards. */
#include <ccmux/plugin_abi.h>

#include <stdio.h>
#include <string.h>

static const ccmux_host_api* api;
static uint64_t client;
static int closed, after_close, rounds;

static void on_message(void* user, const char* json, size_t len) {
  (void)user;
  if (closed) {
    ++after_close;
    return;
  }
  if (len > 15 && strncmp(json, "{\"type\":\"event\"", 15) == 0) {
    closed = 1;
    api->client_close(api->host, client);
  }
}

static void on_event(void* user, const ccmux_event* ev) {
  char request[256];
  char line[128];
  (void)user;
  if (strcmp(ev->kind, "result") != 0) return;
  if (rounds++ > 0) { /* a later turn: report on the last round */
    snprintf(line, sizeof line, "closer: closed during the replay; %d message(s) after close", after_close);
    api->log(api->host, CCMUX_LOG_INFO, line);
    return;
  }
  client = api->client_open(api->host, "closer", on_message, NULL);
  static const char hello[] = "{\"type\":\"hello\",\"protocol\":1}";
  api->client_send(api->host, client, hello, strlen(hello));
  snprintf(request, sizeof request,
           "{\"type\":\"request\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"session\":\"%s\",\"from_seq\":1}}",
           ev->session);
  api->client_send(api->host, client, request, strlen(request));
}

static int start(const ccmux_host_api* host, const char* config, size_t len, void** state, char* err,
                 size_t err_len) {
  (void)config;
  (void)len;
  *state = NULL;
  api = host;
  if (host->subscribe(host->host, "*", 0, on_event, NULL) == 0) {
    snprintf(err, err_len, "subscribe failed");
    return 1;
  }
  return 0;
}

static const ccmux_plugin_descriptor descriptor = {
    sizeof(ccmux_plugin_descriptor),
    CCMUX_SDK_VERSION_MAJOR,
    CCMUX_SDK_VERSION_MINOR,
    CCMUX_ABI_FINGERPRINT,
    "close_in_callback",
    "0.0.1",
    "closes its client from inside that client's replay",
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
