{
  "targets": [
    {
      "target_name": "troupe_shm",
      "sources": ["native/shm.cc"],
      "cflags_cc": ["-O2", "-std=c++17"]
    }
  ]
}
