// TCP settings Node does not expose, on a socket's file descriptor, so that a
// dead or half-open link is noticed within seconds (comm/link-watch.ts):
//
//   tuneLink(fd, idleS, intervalS, count, rtoMaxMs) -> boolean
//     keepalive on, with its idle time, probe interval and probe count (Node
//     sets only the idle time); and the longest retransmission timeout, which
//     also spaces the probes of a closed window (Linux 6.15 and later: false
//     when the kernel does not know the option).
//   linkState(fd) -> { sinceAckMs, unacked, notSent } from TCP_INFO
//   resetOnClose(fd)
//     SO_LINGER with a zero timeout: closing sends a reset and drops what
//     waits, so that a peer still sending to a link found dead hears at once,
//     and the kernel does not go on retransmitting to nobody.
//
// TCP_USER_TIMEOUT is not used: since Linux 5.11 it also ends a connection
// whose peer keeps its window closed (a busy process not reading) though the
// peer's kernel answers every probe.

#include <node_api.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#ifdef __linux__
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44
#endif
#endif

namespace {

napi_value ThrowErrno(napi_env env, const char* what, int err) {
  std::string msg = std::string(what) + ": " + std::strerror(err);
  napi_throw_error(env, "ETCP", msg.c_str());
  return nullptr;
}

bool Ints(napi_env env, napi_callback_info info, int32_t* out, size_t n) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < n) {
    napi_throw_type_error(env, nullptr, "missing arguments");
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, nullptr, "arguments must be integers");
      return false;
    }
  }
  return true;
}

napi_value Bool(napi_env env, bool v) {
  napi_value b;
  napi_get_boolean(env, v, &b);
  return b;
}

#ifdef __linux__
bool SetInt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}
#endif

napi_value TuneLink(napi_env env, napi_callback_info info) {
  int32_t a[5];
  if (!Ints(env, info, a, 5)) return nullptr;
#ifdef __linux__
  int fd = a[0];
  if (!SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) return ThrowErrno(env, "SO_KEEPALIVE", errno);
  if (!SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, a[1])) return ThrowErrno(env, "TCP_KEEPIDLE", errno);
  if (!SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, a[2])) return ThrowErrno(env, "TCP_KEEPINTVL", errno);
  if (!SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, a[3])) return ThrowErrno(env, "TCP_KEEPCNT", errno);
  return Bool(env, SetInt(fd, IPPROTO_TCP, TCP_RTO_MAX_MS, a[4]));
#else
  napi_throw_error(env, "ETCP", "TCP tuning is implemented for Linux only");
  return nullptr;
#endif
}

void SetU32(napi_env env, napi_value obj, const char* name, uint32_t v) {
  napi_value n;
  napi_create_uint32(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

napi_value LinkState(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!Ints(env, info, &fd, 1)) return nullptr;
#ifdef __linux__
  struct tcp_info ti;
  std::memset(&ti, 0, sizeof(ti));
  socklen_t len = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return ThrowErrno(env, "TCP_INFO", errno);
  napi_value obj;
  napi_create_object(env, &obj);
  SetU32(env, obj, "sinceAckMs", ti.tcpi_last_ack_recv);
  SetU32(env, obj, "unacked", ti.tcpi_unacked);
  // Reported since Linux 4.6 (0 before: only unacknowledged data is then seen).
  bool hasNotSent = len >= offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(ti.tcpi_notsent_bytes);
  SetU32(env, obj, "notSent", hasNotSent ? ti.tcpi_notsent_bytes : 0);
  return obj;
#else
  napi_throw_error(env, "ETCP", "TCP_INFO is read on Linux only");
  return nullptr;
#endif
}

napi_value ResetOnClose(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!Ints(env, info, &fd, 1)) return nullptr;
#ifdef __linux__
  struct linger lg = {1, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0) return ThrowErrno(env, "SO_LINGER", errno);
  return nullptr;
#else
  napi_throw_error(env, "ETCP", "TCP tuning is implemented for Linux only");
  return nullptr;
#endif
}

}  // namespace

void RegisterTcp(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "tuneLink", NAPI_AUTO_LENGTH, TuneLink, nullptr, &fn);
  napi_set_named_property(env, exports, "tuneLink", fn);
  napi_create_function(env, "linkState", NAPI_AUTO_LENGTH, LinkState, nullptr, &fn);
  napi_set_named_property(env, exports, "linkState", fn);
  napi_create_function(env, "resetOnClose", NAPI_AUTO_LENGTH, ResetOnClose, nullptr, &fn);
  napi_set_named_property(env, exports, "resetOnClose", fn);
}
