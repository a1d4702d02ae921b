import { defaultExportEraser, type ExportEraser } from '@loopdm/gateway/services/export-eraser'

/** The exporter's GDPR hook (via the gateway's default), for `npm run gdpr:erase`. */
export async function exportEraser(): Promise<ExportEraser> {
  return defaultExportEraser
}
