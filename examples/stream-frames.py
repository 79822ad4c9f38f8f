# The producer of the stream-frames recipe: sends 10 frames (an image and its mean) to a Node
# consumer over TCP, one ndpack message each, then ends the stream. Needs `pip install ./spec/python`.
import socket
import sys

import numpy as np

import ndpack

with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as sock:
    writer = ndpack.MessageWriter(sock)
    for t in range(10):
        image = np.full((48, 64, 3), t * 10, dtype=np.uint8)
        writer.send({"image": image, "mean": np.float32(image.mean())}, metadata={"frame": t})
    writer.close()  # the stream ends after a whole message
