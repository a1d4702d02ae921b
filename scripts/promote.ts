import { notImplemented } from './lib/cli.js'

notImplemented('npm run promote')
