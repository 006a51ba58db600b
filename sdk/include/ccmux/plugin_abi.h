/* ccmux plugin ABI: the only contract between ccmuxd and a plugin library.
 *
 * Plain C on purpose: no exception, std:: object or deleter crosses this line.
 * Every struct starts with its own size so either side can grow it: a reader
 * checks that a field lies inside `struct_size` before touching it (OBS style).
 *
 * Threads. Every callback below is called on the ccmuxd core loop thread, one at
 * a time. A callback must return quickly (no network, no sleeping); a plugin that
 * needs to block runs its own thread and comes back with host->post(), and one
 * that only needs to wait asks for a timer (timer_start). Every host function may
 * be called from any thread, and each says what it does off the loop thread:
 *   - "queued": the call returns at once; its effect happens on the loop soon after,
 *     in the order the calls were made (post(), client_send, … share one queue);
 *   - "blocks": the calling thread waits until the loop has run it. On the loop
 *     thread itself nothing waits. Once the daemon is stopping (SIGTERM), a blocking
 *     call made off the loop thread fails at once with CCMUX_ERR_STOPPING (int
 *     results), 0 (ids) or does nothing (void), instead of waiting for a loop that is
 *     winding down or busy in this plugin's stop(). Calls made on the loop thread,
 *     stop() included, still work then.
 *
 * Memory. Strings are NUL-terminated UTF-8 unless a length goes with them. What the
 * host passes to a callback is valid during that call only: copy what you keep. What
 * a plugin passes to a host function is read (or copied) before the function returns,
 * except where a note says it is kept. `user` pointers are never freed by the host.
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
#define CCMUX_SDK_VERSION_MINOR 6
/* FNV-1a 64 of this file with this line's value replaced by 0 (see tests/abi). */
#define CCMUX_ABI_FINGERPRINT 0xba9775ecbc04118eULL

/* Name of the exported entry point (a Boost.DLL alias). */
#define CCMUX_PLUGIN_ENTRY_NAME "ccmux_plugin_entry_v1"

/* Results of the int-returning host functions. A plugin built for SDK 1.0-1.3 gets -1
 * wherever a 1.4 plugin gets CCMUX_ERR_STOPPING: its header promised 0 or -1. */
#define CCMUX_OK 0
#define CCMUX_ERR (-1)          /* bad argument, unknown id, refused */
#define CCMUX_ERR_STOPPING (-2) /* SDK 1.4: the daemon is stopping (or this plugin is); not served */

enum ccmux_log_level { CCMUX_LOG_DEBUG = 0, CCMUX_LOG_INFO = 1, CCMUX_LOG_WARN = 2, CCMUX_LOG_ERROR = 3 };

enum ccmux_decision { CCMUX_DECISION_NONE = 0, CCMUX_DECISION_ALLOW = 1, CCMUX_DECISION_DENY = 2, CCMUX_DECISION_ASK = 3 };

/* A key's value in the JSON the plugin's start() gets: STRING a string, INT an integer,
 * BOOL true/false, FLOAT a number, STRING_LIST an array of strings, MAP an object of strings. */
enum ccmux_config_type {
  CCMUX_CFG_STRING = 0, CCMUX_CFG_INT = 1, CCMUX_CFG_BOOL = 2, CCMUX_CFG_FLOAT = 3,
  CCMUX_CFG_STRING_LIST = 4, CCMUX_CFG_MAP = 5
};

/* One event of a session's stream. Valid during the callback only. `session` and `kind`
 * are NUL-terminated; `json` (the payload, exactly as stored) is `json_len` bytes and not
 * necessarily NUL-terminated. */
typedef struct ccmux_event {
  uint32_t struct_size;
  const char* session;
  uint64_t seq;
  int64_t ts_ms;
  const char* kind;
  const char* json;
  size_t json_len;
} ccmux_event;

/* A configuration key the plugin accepts in its `plugins:` entry (SDK 1.0: type only;
 * SDK 1.4 plugins declare ccmux_config_spec instead). */
typedef struct ccmux_config_key {
  const char* name;
  int type;             /* enum ccmux_config_type */
  int required;         /* non-zero: the key must be present */
  const char* help;     /* one line, shown in errors and docs */
} ccmux_config_key;

/* SDK 1.4: a configuration key with its default, range and choices. The host checks a
 * plugin's whole entry against these before the plugin starts (and `ccmuxd --check-config`
 * does, without starting it), reporting file:line:col; start() then gets every key that has
 * a value or a default. Declared as one static array: the host steps through it by the first
 * element's struct_size, so fields added later are read only where that size reaches. */
typedef struct ccmux_config_spec {
  uint32_t struct_size;        /* sizeof(ccmux_config_spec) */
  const char* name;
  int type;                    /* enum ccmux_config_type */
  int required;                /* non-zero: the key must be present (a default is then ignored) */
  const char* help;            /* one line, shown in errors and docs; may be NULL */
  const char* default_value;   /* YAML as written in the config ("8420", "127.0.0.1", "[a, b]"),
                                  checked like a value; NULL: an absent key stays absent */
  int has_min;                 /* INT and FLOAT: inclusive bounds when has_min / has_max */
  double min;
  int has_max;
  double max;
  const char* const* choices;  /* STRING, and each item of a STRING_LIST: the allowed values */
  size_t choice_count;         /* 0: any value */
} ccmux_config_spec;

/* Receives one event; see ccmux_event for lifetimes. */
typedef void (*ccmux_event_fn)(void* user, const ccmux_event* ev);
/* Receives one protocol message (a JSON object, see docs/protocol.md): `len` bytes, valid
 * during the call only, not necessarily NUL-terminated. */
typedef void (*ccmux_message_fn)(void* user, const char* json, size_t len);
typedef void (*ccmux_task_fn)(void* user);
/* Gives a stored value (`len` bytes, valid during the call only); `value` is NULL when
 * the key is absent. */
typedef void (*ccmux_value_fn)(void* user, const char* value, size_t len);

/* An approval provider answers synchronously by calling `decide` at most once
 * before returning (not calling it means "no opinion"). `request_json` (`len` bytes, valid
 * during the call) is the approval request object of docs/protocol.md. `decide` and
 * `decide_ctx` are valid until the provider returns; decide copies `reason` (may be NULL)
 * and `updated_input_json` (NUL-terminated JSON, or NULL: the input unchanged). */
typedef void (*ccmux_decide_fn)(void* decide_ctx, int decision, const char* reason,
                                const char* updated_input_json);
typedef void (*ccmux_provider_fn)(void* user, const char* request_json, size_t len,
                                  ccmux_decide_fn decide, void* decide_ctx);

/* A protocol method served by a plugin (SDK 1.3): call respond(respond_ctx, ok, json, len)
 * exactly once before returning — ok != 0: `json` is the result object; ok == 0: `json` is
 * {"code":…,"message":…}. `caller` names the client; `trusted` is non-zero for the local
 * socket (the daemon's owner), zero for remote transports and plugins. `params_json` (`len`
 * bytes) and `caller` are valid during the call; respond copies `json` before it returns and
 * may not be called after the handler has returned. */
typedef void (*ccmux_respond_fn)(void* respond_ctx, int ok, const char* json, size_t len);
typedef void (*ccmux_method_fn)(void* user, const char* params_json, size_t len, const char* caller, int trusted,
                                ccmux_respond_fn respond, void* respond_ctx);

/* SDK 1.6: a method that answers later (e.g. after asking another machine). The handler gets
 * a `call` id and answers it once with call_respond, from any thread, when it is ready; the
 * arguments are as for ccmux_method_fn. */
typedef void (*ccmux_async_method_fn)(void* user, uint64_t call, const char* params_json, size_t len,
                                      const char* caller, int trusted);
/* SDK 1.6: a request addressed to another machine (see register_router). `client` names the
 * protocol client that sent it (for client_push); `target` is the machine's name as the
 * request gave it ("auto" included); `method` and `params_json` are the request's own,
 * unchanged (prefixes such as "build-box/s-1" are the router's to strip). Answer with
 * call_respond. All arguments are valid during the call only. Loop thread. */
typedef void (*ccmux_route_fn)(void* user, uint64_t call, uint64_t client, const char* target, const char* method,
                               const char* params_json, size_t len, const char* caller, int trusted);
/* SDK 1.6: news of a protocol client a router pushed to: CCMUX_CLIENT_GONE (it closed: end what
 * was routed for it) or CCMUX_CLIENT_READY (its transport drained after client_push answered 0). */
#define CCMUX_CLIENT_GONE 0
#define CCMUX_CLIENT_READY 1
typedef void (*ccmux_client_note_fn)(void* user, uint64_t client, int what);

/* The host's functions. The table and `host` stay valid until the plugin's stop() returns.
 * Functions and user pointers a plugin registers are kept until it unregisters them or
 * stops; the host calls none of them after stop() has returned. */
typedef struct ccmux_host_api {
  uint32_t struct_size;
  uint16_t sdk_major;
  uint16_t sdk_minor;
  void* host;  /* pass back as the first argument of every call */

  /* Writes `msg` to the daemon's log, prefixed "plugin <name>: ". Never blocks; `msg` is
   * copied. */
  void (*log)(void* host, int level, const char* msg);

  /* Events of one session (or of every session when `session` is NULL or "*",
   * live only) starting at `from_seq`: the stored tail first, then live, with no
   * gap and no duplicate. Returns a subscription id > 0, or 0 on error (an unknown
   * session, no fn, or stopping). Blocks. `session` is copied; fn/user are kept until
   * unsubscribe. The replay may call fn before subscribe returns (on the loop thread). */
  uint64_t (*subscribe)(void* host, const char* session, uint64_t from_seq,
                        ccmux_event_fn fn, void* user);
  /* Ends a subscription; fn is not called after it returns. Blocks (does nothing once
   * stopping: the host drops the plugin's subscriptions when it stops). May be called
   * from inside that subscription's own fn. */
  void (*unsubscribe)(void* host, uint64_t subscription);

  /* A protocol client inside the daemon: exactly what a Unix-socket client gets
   * (hello, requests, subscriptions, approvals). `on_message` receives every
   * message the daemon sends to this client. Returns a client id > 0 (0: no fn, or the
   * plugin is stopped or being stopped). Queued: the id is usable at once. `client_name` is copied;
   * on_message/user are kept until client_close. */
  uint64_t (*client_open)(void* host, const char* client_name, ccmux_message_fn on_message, void* user);
  /* Feeds one protocol message from the client (`len` bytes, copied). Returns CCMUX_OK, or
   * CCMUX_ERR for an unknown or closed client. Queued. */
  int (*client_send)(void* host, uint64_t client, const char* json, size_t len);
  /* Closes a client; on_message is not called after it returns. Blocks (does nothing once
   * stopping). May be called from inside that client's own on_message. */
  void (*client_close)(void* host, uint64_t client);

  /* Approval chain hooks. A provider is asked after the Lua policies; an
   * escalation channel receives approval_requested / approval_resolved messages.
   * `name` is copied; fn/user are kept until the plugin stops. Return CCMUX_OK, CCMUX_ERR
   * (no fn) or CCMUX_ERR_STOPPING. Block. */
  int (*register_approval_provider)(void* host, const char* name, ccmux_provider_fn fn, void* user);
  int (*register_escalation_channel)(void* host, const char* name, ccmux_message_fn fn, void* user);

  /* Per-plugin key-value storage, persisted in the daemon's SQLite store. Keys and values
   * are copied. kv_get calls fn once, on the calling thread, before it returns (with NULL
   * when the key is absent) and returns CCMUX_OK, 1 (absent), CCMUX_ERR or
   * CCMUX_ERR_STOPPING (fn not called then). kv_set and kv_delete return CCMUX_OK,
   * CCMUX_ERR or CCMUX_ERR_STOPPING. All three block. */
  int (*kv_set)(void* host, const char* key, const char* value, size_t len);
  int (*kv_get)(void* host, const char* key, ccmux_value_fn fn, void* user);
  int (*kv_delete)(void* host, const char* key);

  /* Runs fn(user) on the core loop thread soon. Queued; never blocks. Returns CCMUX_OK, or
   * CCMUX_ERR (no fn, or the plugin is stopped or being stopped: fn will not run, so free
   * what user points to yourself). A task queued before the plugin stops but not yet run
   * is dropped, fn not called. */
  int (*post)(void* host, ccmux_task_fn fn, void* user);

  /* ---- SDK 1.1 (check struct_size before use) ---- */

  /* Checks a client token made by `ccmux token create` (`len` bytes, read during the call).
   * On success writes the token's name (NUL-terminated, cut to name_len) into `name` before
   * returning and returns CCMUX_OK; CCMUX_ERR for an unknown or revoked token,
   * CCMUX_ERR_STOPPING once stopping. Blocks. The daemon stores only SHA-256 of tokens;
   * this call records the time of use. */
  int (*authenticate)(void* host, const char* token, size_t len, char* name, size_t name_len);
  /* fn receives the name of each token revoked from now on, so a transport can close
   * the connections that used it. fn/user are kept until the plugin stops. Returns CCMUX_OK,
   * CCMUX_ERR (no fn) or CCMUX_ERR_STOPPING. Blocks. */
  int (*register_revocation_listener)(void* host, ccmux_value_fn fn, void* user);

  /* ---- SDK 1.2 ---- */

  /* Flow control for an in-daemon client: with ready = 0 the daemon stops handing it
   * subscription events (responses still come); with ready = 1 it resumes, replaying what
   * was missed from the store in order. A transport calls it when its own send queue for
   * that connection fills and drains, so a slow phone costs bounded memory and loses
   * nothing. Queued. */
  void (*client_set_ready)(void* host, uint64_t client, int ready);

  /* ---- SDK 1.3 ---- */

  /* Serves requests for `method` (dotted, e.g. "autonomy.set") on every transport, like a
   * built-in method; `plugins.list` shows who serves what. Built-in names and names another
   * plugin took are refused (CCMUX_ERR); CCMUX_ERR_STOPPING once stopping. `method` is
   * copied; fn/user are kept until the plugin stops. Blocks. */
  int (*register_method)(void* host, const char* method, ccmux_method_fn fn, void* user);

  /* ---- SDK 1.4 ---- */

  /* Runs fn(user) on the loop thread after `delay_ms`, then every `period_ms` when it is
   * > 0, until timer_cancel or the plugin stops (its timers end then, fn not called).
   * Returns a timer id > 0, or 0 (no fn, or the plugin is stopped or being stopped).
   * Queued; never blocks. fn/user are kept until the timer ends: a one-shot timer ends
   * after its fn returns. */
  uint64_t (*timer_start)(void* host, uint64_t delay_ms, uint64_t period_ms, ccmux_task_fn fn, void* user);
  /* Ends a timer. On the loop thread (inside its own fn too) fn is not called again after
   * timer_cancel returns. From another thread the cancel is queued: fn may run once more
   * before the loop takes it, and a task post()ed after timer_cancel runs after it took
   * effect (the place to free `user`). Unknown and ended ids are ignored. Never blocks. */
  void (*timer_cancel)(void* host, uint64_t timer);

  /* ---- SDK 1.5 ---- */

  /* Checks a client certificate issued by `ccmux certs issue` (signed by the machine's CA),
   * named by its fingerprint: SHA-256 over the certificate's DER, as 64 hex digits
   * (`fingerprint_hex`, `len` bytes, read during the call; lowercase is the canonical form,
   * case is ignored). Checking the TLS chain is the transport's; this says whether ccmuxd
   * issued that certificate and still honours it. On success writes the certificate's name
   * (NUL-terminated, cut to name_len) into `name` and returns CCMUX_OK; CCMUX_ERR for an
   * unknown, revoked or expired certificate, CCMUX_ERR_STOPPING once stopping. Blocks.
   * Records the time of use (at most one write a minute per certificate). */
  int (*authenticate_certificate)(void* host, const char* fingerprint_hex, size_t len, char* name, size_t name_len);
  /* fn receives the name of each client certificate revoked from now on (`ccmux certs
   * revoke`), so a transport can close the connections that presented it. fn/user are kept
   * until the plugin stops. Returns CCMUX_OK, CCMUX_ERR (no fn) or CCMUX_ERR_STOPPING. Blocks. */
  int (*register_certificate_revocation_listener)(void* host, ccmux_value_fn fn, void* user);

  /* ---- SDK 1.6 ---- */

  /* Serves the protocol method `method` like register_method, but the answer may come later:
   * fn gets a call id to pass to call_respond. Returns as register_method. Blocks. */
  int (*register_async_method)(void* host, const char* method, ccmux_async_method_fn fn, void* user);
  /* Answers a call of an async method or a routed request, exactly once: ok != 0: `json` is
   * the result object; ok == 0: {"code":…,"message":…}. `json` (`len` bytes) is copied. Safe
   * from any thread. Returns CCMUX_OK, CCMUX_ERR (unknown or already answered call; a call
   * whose client has gone is accepted and dropped) or CCMUX_ERR_STOPPING. Queued. */
  int (*call_respond)(void* host, uint64_t call, int ok, const char* json, size_t len);
  /* Makes this plugin the daemon's router to other machines (one plugin at most: CCMUX_ERR
   * when another has it). `local_name` is this machine's name. From then on a request with
   * a string parameter `host` naming another machine (or "auto"), or whose `session` or `id`
   * is "NAME/…" with NAME not `local_name`, goes to `route` instead of the method registry;
   * "local_name/…" is stripped and served here. `note` (may be NULL) hears of clients pushed
   * to. fn/user are kept until the plugin stops. Blocks. */
  int (*register_router)(void* host, const char* local_name, ccmux_route_fn route, ccmux_client_note_fn note,
                         void* user);
  /* Sends one protocol message (`len` bytes, copied; e.g. an event of a routed subscription)
   * to a client the router was given. Returns 1: delivered and the client wants more;
   * 0: delivered but its transport's queue is full — send nothing more until a
   * CCMUX_CLIENT_READY note; CCMUX_ERR: the client is gone. Loop thread only. */
  int (*client_push)(void* host, uint64_t client, const char* json, size_t len);
  /* Replaces what this machine knows of the pending approvals of machine `machine`: `json`
   * is an array of approval objects whose `id` and `session` already carry the "machine/"
   * prefix (an empty array: none, e.g. the machine is down). Clients watching approvals get
   * approval_requested / approval_resolved for the difference, and see them in the
   * `approvals` snapshot and approvals.list. Returns CCMUX_OK, CCMUX_ERR (not an array,
   * or this plugin is not the router) or CCMUX_ERR_STOPPING. Queued. */
  int (*set_remote_approvals)(void* host, const char* machine, const char* json, size_t len);
} ccmux_host_api;

/* What the plugin exports. The descriptor and everything it points to (strings, keys)
 * must stay valid while the library is loaded: declare them static. */
typedef struct ccmux_plugin_descriptor {
  uint32_t struct_size;
  uint16_t sdk_major;           /* CCMUX_SDK_VERSION_MAJOR the plugin was built with */
  uint16_t sdk_minor;
  uint64_t abi_fingerprint;     /* CCMUX_ABI_FINGERPRINT the plugin was built with */
  const char* name;
  const char* version;
  const char* description;
  const ccmux_config_key* config_keys;  /* 1.0-1.3 declaration; ignored when config_specs is set */
  size_t config_key_count;
  /* Called once on the loop thread. `config_json` (`len` bytes, valid during the call) is the
   * plugin's entry as a JSON object, validated against its declared keys, with their
   * defaults. Return 0, or non-zero after writing a NUL-terminated message of at most
   * errbuf_len bytes into errbuf. `*state` is passed to stop(). `host` stays valid until
   * stop() returns (or, when start fails, until start returns). */
  int (*start)(const ccmux_host_api* host, const char* config_json, size_t len,
               void** state, char* errbuf, size_t errbuf_len);
  /* Called once at shutdown on the loop thread, while the loop still runs: the plugin ends
   * and joins its threads (their blocking host calls fail with CCMUX_ERR_STOPPING by then),
   * and may still call the host itself, e.g. to save state with kv_set. */
  void (*stop)(void* state);

  /* ---- SDK 1.4 (the host reads these only where struct_size reaches) ---- */
  const ccmux_config_spec* config_specs;  /* NULL: config_keys (or no keys) */
  size_t config_spec_count;
} ccmux_plugin_descriptor;

typedef const ccmux_plugin_descriptor* (*ccmux_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
