import type { ExportEraser } from '@loopdm/gateway/services/export-eraser'
import { noopExportEraser } from '@loopdm/gateway/services/export-eraser'

/** The exporter's GDPR hook once it is on main; until then a no-op that reports zero lines. */
export async function exportEraser(): Promise<ExportEraser> {
  return noopExportEraser
}
