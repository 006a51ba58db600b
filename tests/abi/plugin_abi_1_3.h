/* ccmux plugin ABI: the only contract between ccmuxd and a plugin library.
 *
 * Plain C on purpose: no exception, std:: object or deleter crosses this line.
 * Every struct starts with its own size so either side can grow it: a reader
 * checks that a field lies inside `struct_size` before touching it (OBS style).
 *
 * Threads: every callback below is called on the ccmuxd core loop thread,
 * one at a time. A callback must return quickly (no network, no sleeping);
 * a plugin that needs to block runs its own thread and comes back with
 * host->post(). All host functions may be called from any thread; calls made
 * off the loop thread are queued onto it (their effects are asynchronous).
 *
 * Changing this file means bumping CCMUX_SDK_VERSION_* and the fingerprint;
 * tests/abi compares it with a frozen copy and fails otherwise.
 */
#ifndef CCMUX_PLUGIN_ABI_H
#define CCMUX_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CCMUX_SDK_VERSION_MAJOR 1
#define CCMUX_SDK_VERSION_MINOR 3
/* FNV-1a 64 of this file with this line's value replaced by 0 (see tests/abi). */
#define CCMUX_ABI_FINGERPRINT 0xf69e6595484f0b3dULL

/* Name of the exported entry point (a Boost.DLL alias). */
#define CCMUX_PLUGIN_ENTRY_NAME "ccmux_plugin_entry_v1"

enum ccmux_log_level { CCMUX_LOG_DEBUG = 0, CCMUX_LOG_INFO = 1, CCMUX_LOG_WARN = 2, CCMUX_LOG_ERROR = 3 };

enum ccmux_decision { CCMUX_DECISION_NONE = 0, CCMUX_DECISION_ALLOW = 1, CCMUX_DECISION_DENY = 2, CCMUX_DECISION_ASK = 3 };

enum ccmux_config_type {
  CCMUX_CFG_STRING = 0, CCMUX_CFG_INT = 1, CCMUX_CFG_BOOL = 2, CCMUX_CFG_FLOAT = 3,
  CCMUX_CFG_STRING_LIST = 4, CCMUX_CFG_MAP = 5
};

/* One event of a session's stream. `json` is the payload, exactly as stored. */
typedef struct ccmux_event {
  uint32_t struct_size;
  const char* session;
  uint64_t seq;
  int64_t ts_ms;
  const char* kind;
  const char* json;
  size_t json_len;
} ccmux_event;

/* A configuration key the plugin accepts in its `plugins:` entry. */
typedef struct ccmux_config_key {
  const char* name;
  int type;             /* enum ccmux_config_type */
  int required;         /* non-zero: the key must be present */
  const char* help;     /* one line, shown in errors and docs */
} ccmux_config_key;

typedef void (*ccmux_event_fn)(void* user, const ccmux_event* ev);
/* Receives one protocol message (a JSON object, see docs/protocol.md). */
typedef void (*ccmux_message_fn)(void* user, const char* json, size_t len);
typedef void (*ccmux_task_fn)(void* user);
/* Gives a stored value; `value` is NULL when the key is absent. Valid during the call only. */
typedef void (*ccmux_value_fn)(void* user, const char* value, size_t len);

/* An approval provider answers synchronously by calling `decide` at most once
 * before returning (not calling it means "no opinion"). `request_json` is the
 * approval request object of docs/protocol.md. `updated_input_json` may be NULL. */
typedef void (*ccmux_decide_fn)(void* decide_ctx, int decision, const char* reason,
                                const char* updated_input_json);
typedef void (*ccmux_provider_fn)(void* user, const char* request_json, size_t len,
                                  ccmux_decide_fn decide, void* decide_ctx);

/* A protocol method served by a plugin (SDK 1.3): call respond(respond_ctx, ok, json, len)
 * exactly once before returning — ok != 0: `json` is the result object; ok == 0: `json` is
 * {"code":…,"message":…}. `caller` names the client; `trusted` is non-zero for the local
 * socket (the daemon's owner), zero for remote transports and plugins. */
typedef void (*ccmux_respond_fn)(void* respond_ctx, int ok, const char* json, size_t len);
typedef void (*ccmux_method_fn)(void* user, const char* params_json, size_t len, const char* caller, int trusted,
                                ccmux_respond_fn respond, void* respond_ctx);

typedef struct ccmux_host_api {
  uint32_t struct_size;
  uint16_t sdk_major;
  uint16_t sdk_minor;
  void* host;  /* pass back as the first argument of every call */

  void (*log)(void* host, int level, const char* msg);

  /* Events of one session (or of every session when `session` is NULL or "*",
   * live only) starting at `from_seq`: the stored tail first, then live, with no
   * gap and no duplicate. Returns a subscription id > 0, or 0 on error. */
  uint64_t (*subscribe)(void* host, const char* session, uint64_t from_seq,
                        ccmux_event_fn fn, void* user);
  void (*unsubscribe)(void* host, uint64_t subscription);

  /* A protocol client inside the daemon: exactly what a Unix-socket client gets
   * (hello, requests, subscriptions, approvals). `on_message` receives every
   * message the daemon sends to this client. Returns a client id > 0. */
  uint64_t (*client_open)(void* host, const char* client_name, ccmux_message_fn on_message, void* user);
  /* Feeds one protocol message from the client. Returns 0, or -1 for an unknown client. */
  int (*client_send)(void* host, uint64_t client, const char* json, size_t len);
  void (*client_close)(void* host, uint64_t client);

  /* Approval chain hooks. A provider is asked after the Lua policies; an
   * escalation channel receives approval_requested / approval_resolved messages. */
  int (*register_approval_provider)(void* host, const char* name, ccmux_provider_fn fn, void* user);
  int (*register_escalation_channel)(void* host, const char* name, ccmux_message_fn fn, void* user);

  /* Per-plugin key-value storage, persisted in the daemon's SQLite store. */
  int (*kv_set)(void* host, const char* key, const char* value, size_t len);
  int (*kv_get)(void* host, const char* key, ccmux_value_fn fn, void* user);
  int (*kv_delete)(void* host, const char* key);

  /* Runs fn(user) on the core loop thread soon. Safe from any thread. */
  int (*post)(void* host, ccmux_task_fn fn, void* user);

  /* ---- SDK 1.1 (check struct_size before use) ---- */

  /* Checks a client token made by `ccmux token create`. On success writes the token's
   * name (NUL-terminated, cut to name_len) and returns 0; returns -1 otherwise. The
   * daemon stores only SHA-256 of tokens; this call records the time of use. */
  int (*authenticate)(void* host, const char* token, size_t len, char* name, size_t name_len);
  /* fn receives the name of each token revoked from now on, so a transport can close
   * the connections that used it. */
  int (*register_revocation_listener)(void* host, ccmux_value_fn fn, void* user);

  /* ---- SDK 1.2 ---- */

  /* Flow control for an in-daemon client: with ready = 0 the daemon stops handing it
   * subscription events (responses still come); with ready = 1 it resumes, replaying what
   * was missed from the store in order. A transport calls it when its own send queue for
   * that connection fills and drains, so a slow phone costs bounded memory and loses
   * nothing. Safe from any thread. */
  void (*client_set_ready)(void* host, uint64_t client, int ready);

  /* ---- SDK 1.3 ---- */

  /* Serves requests for `method` (dotted, e.g. "autonomy.set") on every transport, like a
   * built-in method; `plugins.list` shows who serves what. Built-in names and names another
   * plugin took are refused (-1). */
  int (*register_method)(void* host, const char* method, ccmux_method_fn fn, void* user);
} ccmux_host_api;

typedef struct ccmux_plugin_descriptor {
  uint32_t struct_size;
  uint16_t sdk_major;           /* CCMUX_SDK_VERSION_MAJOR the plugin was built with */
  uint16_t sdk_minor;
  uint64_t abi_fingerprint;     /* CCMUX_ABI_FINGERPRINT the plugin was built with */
  const char* name;
  const char* version;
  const char* description;
  const ccmux_config_key* config_keys;
  size_t config_key_count;
  /* Called once on the loop thread. `config_json` is the plugin's entry as a JSON
   * object (validated against config_keys). Return 0, or non-zero after writing a
   * message into errbuf. `*state` is passed to stop(). */
  int (*start)(const ccmux_host_api* host, const char* config_json, size_t len,
               void** state, char* errbuf, size_t errbuf_len);
  /* Called once at shutdown on the loop thread; the plugin joins its threads. */
  void (*stop)(void* state);
} ccmux_plugin_descriptor;

typedef const ccmux_plugin_descriptor* (*ccmux_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
