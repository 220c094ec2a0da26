{
  "targets": [
    {
      "target_name": "troupe_shm",
      "sources": ["native/shm.cc", "native/tcp.cc"],
      "cflags_cc": ["-O2", "-std=c++17"]
    }
  ]
}
