// The kiosk's own wording in Chinese and English (pure UI text): banners, the queue's
// wait, the confirmation buttons, the end of a session and the server's refusals as a
// customer should read them. Step titles and prompts come from the server.

import { Language, Party } from "/static/shared/vocabulary.js";

export const TEXT = {
  [Language.ZH_CN]: {
    reconnecting: "网络中断，正在重新连接…请稍候，无需任何操作。",
    reconnected: "已重新连接，正在恢复您的业务…",
    connecting: "正在接通视频…",
    connected: "视频已接通",
    agentReconnecting: "坐席网络不稳定，正在重新连接，请稍候…",
    waitMinutes: (m) => (m < 1 ? "不到 1 分钟" : `约 ${m} 分钟`),
    waitUnknown: "正在计算",
    agreeRecorded: "我同意录音录像",
    understood: "我已知悉并确认",
    acknowledge: "我已阅读",
    acknowledged: "✓ 已阅读",
    sending: "正在提交…",
    receiptBack: (s) => `${s} 秒后返回首页`,
    ended: {
      [Party.AGENT]: "坐席已结束本次服务。",
      [Party.KIOSK]: "您已结束本次服务。",
      server: "本次服务已由系统结束。",
    },
    resumeFailed: "上一次业务已无法继续，请重新选择业务。",
    noCamera: "无法打开摄像头或麦克风，请联系网点工作人员。",
    errors: {
      bad_evidence: "提交的内容未被接受，请重新操作。",
      out_of_order: "请稍等片刻后再试。",
      step_refused: "当前步骤尚未完成，请按提示操作。",
      negotiation_failed: "视频连接失败，正在重试…",
      media_error: "视频出现问题，请稍候。",
      recording_failed: "系统暂时无法录音录像，本次服务已结束且不生效。请稍后重新办理，或联系网点工作人员。",
      unauthorised: "本终端未登记或登记已失效，请联系网点工作人员。",
      unknown_service: "暂不提供该业务，请选择其他业务。",
      default: "系统繁忙，请稍后再试或联系网点工作人员。",
    },
  },
  [Language.EN]: {
    reconnecting: "The network dropped. Reconnecting… please wait, there is nothing to do.",
    reconnected: "Reconnected; resuming your session…",
    connecting: "Connecting the video…",
    connected: "Video connected",
    agentReconnecting: "The agent's connection dropped; they are reconnecting, please wait…",
    waitMinutes: (m) => (m < 1 ? "under a minute" : `about ${m} min`),
    waitUnknown: "working it out",
    agreeRecorded: "I agree to be recorded",
    understood: "I understand and confirm",
    acknowledge: "I have read it",
    acknowledged: "✓ Read",
    sending: "Sending…",
    receiptBack: (s) => `Back to the start in ${s} s`,
    ended: {
      [Party.AGENT]: "The agent has ended the session.",
      [Party.KIOSK]: "You have ended the session.",
      server: "The session was ended by the system.",
    },
    resumeFailed: "Your earlier session cannot be continued; please choose a service again.",
    noCamera: "The camera or microphone cannot be opened; please ask the branch staff.",
    errors: {
      bad_evidence: "That was not accepted; please try again.",
      out_of_order: "Please wait a moment and try again.",
      step_refused: "This step is not complete yet; please follow the instructions.",
      negotiation_failed: "The video could not connect; trying again…",
      media_error: "There is a problem with the video; please wait.",
      recording_failed:
        "The system cannot record this session right now, so it has ended and does not count. " +
        "Please try again later or ask the branch staff.",
      unauthorised: "This kiosk is not enrolled; please ask the branch staff.",
      unknown_service: "This service is not offered; please choose another.",
      default: "Something went wrong; please try again or ask the branch staff.",
    },
  },
};
