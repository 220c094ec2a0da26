// Bytes this thread's sockets sent and received, since it started: a
// worker reports them as its network traffic. Two additions per chunk.

export const traffic = { sent: 0, received: 0 };
