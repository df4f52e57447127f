#!/bin/bash
while kill -0 9466 2>/dev/null; do sleep 15; done
exec /tmp/g50/run.sh /tmp/g50 1 data.cytoplasm=0.5
