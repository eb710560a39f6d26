#!/usr/bin/env -S node --max-semi-space-size=32
// The larger young generation (the flag above) means far fewer scavenges: tensors make many short-lived objects.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
