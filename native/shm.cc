// Shared-memory segments for zero-copy transfers between processes of one
// host: a file under /dev/shm, mapped into each process that reads it.
//
//   map(path) -> ArrayBuffer   existing file, mapped private (copy-on-write)
//
// Segments are written with plain write(2) (src/shm): twice as fast as
// faulting in a fresh shared mapping to copy into, and a full tmpfs fails the
// write instead of killing the process with SIGBUS.
//
// A private mapping lets a reader modify its copy without touching anyone
// else's. Mappings are released when their ArrayBuffer is collected; the file
// itself is removed by its owner (unlink), and pages live on while mapped.

#include <node_api.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <thread>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct Mapping {
  void* data;
  size_t size;
};

napi_value ThrowErrno(napi_env env, const char* what, const std::string& path, int err) {
  std::string msg = std::string(what) + " " + path + ": " + std::strerror(err);
  napi_value code, message, error;
  const char* name = err == ENOENT ? "ENOENT" : err == ENOSPC ? "ENOSPC" : err == EPERM || err == EACCES ? "EACCES" : "ESHM";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg.c_str(), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_throw(env, error);
  return nullptr;
}

// Unmapping a touched 100 MB mapping takes ~5 ms (every page-table entry is
// torn down), and the collector runs finalizers on the JS thread, often right
// where a transfer waits. One background thread per process does it instead.
class Unmapper {
 public:
  void Push(Mapping m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) {
      std::thread([this] { Run(); }).detach();
      started_ = true;
    }
    queue_.push_back(m);
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return !queue_.empty(); });
      Mapping m = queue_.front();
      queue_.pop_front();
      lock.unlock();
      munmap(m.data, m.size);
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Mapping> queue_;
  bool started_ = false;
};

// Never destroyed: the detached thread may still be waiting on it at exit.
Unmapper& unmapper = *new Unmapper();

void Unmap(napi_env /*env*/, void* /*data*/, void* hint) {
  auto* m = static_cast<Mapping*>(hint);
  unmapper.Push(*m);
  delete m;
}

napi_value Wrap(napi_env env, void* data, size_t size) {
  auto* m = new Mapping{data, size};
  napi_value ab;
  if (napi_create_external_arraybuffer(env, data, size, Unmap, m, &ab) != napi_ok) {
    munmap(data, size);
    delete m;
    napi_throw_error(env, "ESHM", "cannot wrap a shared-memory mapping");
    return nullptr;
  }
  // No napi_adjust_external_memory: V8 already counts an ArrayBuffer's size
  // towards collecting, so dropped mappings are unmapped in time.
  return ab;
}

bool PathArg(napi_env env, napi_callback_info info, std::string* path) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], nullptr, 0, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "path must be a string");
    return false;
  }
  path->resize(len + 1);
  napi_get_value_string_utf8(env, argv[0], path->data(), len + 1, &len);
  path->resize(len);
  return true;
}

napi_value Map(napi_env env, napi_callback_info info) {
  std::string path;
  if (!PathArg(env, info, &path)) return nullptr;
  // No links followed, no blocking on a FIFO: only a plain file of ours is mapped.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return ThrowErrno(env, "cannot open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    close(fd);
    return ThrowErrno(env, "not a segment of this user:", path, EPERM);
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    napi_value ab;
    void* unused;
    napi_create_arraybuffer(env, 0, &unused, &ab);
    return ab;
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (data == MAP_FAILED) return ThrowErrno(env, "cannot map", path, err);
  return Wrap(env, data, size);
}

}  // namespace

// native/tcp.cc: one addon, so that one build step serves both.
void RegisterTcp(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "map", NAPI_AUTO_LENGTH, Map, nullptr, &fn);
  napi_set_named_property(env, exports, "map", fn);
  RegisterTcp(env, exports);
  return exports;
}
