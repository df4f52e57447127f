#!/bin/bash
while kill -0 7067 2>/dev/null; do sleep 15; done
exec /tmp/g46/run.sh /tmp/g46 3 data.cytoplasm=0.5
