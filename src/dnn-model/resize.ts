/**
 * `await resizeImage(output, input, roi?)`: hbDNNResize as the idiomatic layer runs it
 * (libdnn up to 1.18, the X3; X5 has no resize): CLEAN the input, submit, wait without
 * blocking the event loop, release the task, INVALIDATE the output.
 */

import { describe } from '../describe.js';
import { hbDNNReleaseTask, hbDNNResize, hbDNNWaitTaskDoneAsync } from '../dnn/hbdnn.js';
import { HB_DNN_INVALID_ARGUMENT } from '../dnn/status.js';
import {
  HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM,
  type hbDNNResizeCtrlParam,
  type hbDNNRoi,
  type hbDNNTaskHandle_t,
} from '../dnn/types.js';
import { check, HbDNNError } from './error.js';
import { DnnTensor } from './tensor.js';

/**
 * Resizes `roi` (inclusive bounds; the whole image when omitted) of the image tensor `input`
 * into `output` (same image type), bilinear, on the BPU. Resolves with `output`.
 */
export async function resizeImage(
  output: DnnTensor,
  input: DnnTensor,
  roi?: hbDNNRoi,
): Promise<DnnTensor> {
  for (const [name, t] of [
    ['output', output],
    ['input', input],
  ] as const) {
    if (!(t instanceof DnnTensor) || t.freed) {
      throw new HbDNNError(
        HB_DNN_INVALID_ARGUMENT,
        `resizeImage: ${name} must be a live tensor (allocateTensor, wrapTensor), got ${describe(t)}`,
      );
    }
  }
  input.clean();
  const ctrl = {} as hbDNNResizeCtrlParam;
  HB_DNN_INITIALIZE_RESIZE_CTRL_PARAM(ctrl);
  const task: { value: hbDNNTaskHandle_t | null } = { value: null };
  check(hbDNNResize(task, output.tensor, input.tensor, roi ?? null, ctrl), 'hbDNNResize');
  let code: number;
  try {
    code = await hbDNNWaitTaskDoneAsync(task.value!);
  } finally {
    hbDNNReleaseTask(task.value!);
  }
  check(code, 'hbDNNWaitTaskDone');
  return output.invalidate();
}
