"""Chinese sentence banks (news-like and forum-like), written for this project (released with the repo).

Same scheme as ``_text_bank.py``: ``{slot}`` fields filled per document, placed every few characters
so that unrelated documents share few character 5-grams.
"""

from __future__ import annotations

ZH_TOPICS: dict[str, dict[str, list[str]]] = {
    "news": {
        "titles": [
            "{city}{district}{project}正式开工",
            "{city}发布{topic}新举措，{num}项措施{month}起实施",
            "{org}在{city}设立{facility}，预计带动{num}个岗位",
            "{district}{road}改造进入收尾阶段",
        ],
        "openings": [
            "记者{day}从{city}{org}获悉，{district}{project}已于{month}{date_d}日正式开工。",
            "{month}{date_d}日，{city}召开{topic}工作推进会，{person}出席会议并讲话。",
            "据{org}消息，{city}{district}的{facility}将在{month}底前投入使用。",
        ],
        "body": [
            "该项目总投资约{num}亿元，建成后可新增{facility}{num2}处。",
            "{person}介绍，今年以来{district}已累计完成{topic}投资{num}亿元，同比增长{pct}%。",
            "施工期间，{road}部分路段将实行单向通行，请{vehicle}提前绕行{road2}。",
            "目前，{district}已有{num3}户居民在线提交了意见，其中大多数集中在{concern}方面。",
            "{org}负责人表示，将在{month}前完成{facility}的验收工作，确保按期交付。",
            "据统计，{city}全年接待游客约{num}百万人次，{topic}相关收入占比超过{pct}%。",
            "为缓解{concern}问题，{district}新建了{num2}个{facility}，并延长了开放时间。",
            "{person2}说：“过去{vehicle}要绕{num2}公里，现在几分钟就到了。”",
            "附近的{shop}老板{person2}告诉记者，工程开始后客流量有所下降，但他对未来充满信心。",
            "专家指出，{topic}需要{org}、企业和居民三方共同参与，不能只靠政府投入。",
            "按照计划，第二期工程将于{year}年启动，覆盖{district2}和{district3}两个片区。",
            "{city}{org}同时提醒市民，如遇{concern}问题可拨打热线反映。",
            "在{road}与{road2}交叉口，一座新的{facility}已经初具规模，{weather}也没有影响施工进度。",
            "{person}强调，要把{topic}作为今年的重点任务，确保每一笔资金都用在实处。",
            "据了解，这是{city}近{num2}年来规模最大的一次{topic}改造工程。",
            "不少居民在{platform}上留言，希望{facility}能增加{service}等服务。",
        ],
        "quotes": [
            "“我们会认真听取群众意见，{num2}月份再开一次座谈会。”{person}说。",
            "“{project}关系到每家每户，我们全力支持。”{district}居民{person2}说。",
        ],
        "closings": [
            "（记者 {person2} 通讯员 {person}）",
            "（{org}供稿）",
            "责任编辑：{person2}",
        ],
    },
    "forum_tech": {
        "titles": [
            "求助：{device}{fault}怎么办？",
            "大家的{device}有没有{fault}的情况？",
            "【已解决】{device}{fault}，附解决办法",
            "{brand}的{device}值得买吗？用了{num2}个月说说感受",
        ],
        "openings": [
            "楼主在{city}住了{num2}年，第一次发帖，{day}{device}突然{fault}，完全不知道怎么回事。",
            "{day}刚升级完系统，家里的{device}就开始{fault}，有没有人遇到过？",
            "先说结论：{brand}的{device}做工还行，就是偶尔{fault}。",
        ],
        "body": [
            "试过重启和恢复出厂设置，都没有用，售后说要寄回去检测，至少{num2}个工作日。",
            "{handle}回复：我的{device}也是这样，升级以后就经常{fault}，后来换了个{part}就好了。",
            "{handle2}回复：建议先检查一下{part}，很多时候是接触不良。",
            "{handle}回复：同问，我家{device}也有这个毛病，坐等大神解答。",
            "更新：换了{part}以后用了{num2}天，暂时没有再出现{fault}的问题。",
            "有没有懂行的朋友说说，{device}保修期过了以后维修大概要多少钱？",
            "{handle2}回复：{district}那家{shop}可以修，师傅姓{surname}，收费还算合理。",
            "我是在{platform}上买的，{price}块钱，当时觉得挺划算。",
            "说明书上写着{part}要每{num2}个月换一次，我从来没换过，估计问题就在这儿。",
            "{handle}回复：别折腾了，直接找{brand}客服，态度挺好的，我上次{num2}天就换了新的。",
            "顺便吐槽一下，{brand}的APP做得太难用了，设置一个定时要点好几层。",
            "{handle2}回复：楼主可以试试把固件降回上一个版本，我就是这么解决的。",
            "查了一下，好像是{batch}批次的{device}普遍有这个问题。",
        ],
        "quotes": ["{handle2}回复：楼主好人，一生平安。", "{handle}回复：mark一下，回头试试。"],
        "closings": ["以上，欢迎补充。", "已解决，谢谢各位。", "有新情况再来更新。"],
    },
    "forum_travel": {
        "titles": [
            "【分享】{city}周末{activity}攻略，亲测好用",
            "{city}哪里的{food}最好吃？本地人进来聊聊",
            "带{companion}去{place}{activity}，这些坑别踩",
            "{season}的{city}，值得专门去一趟吗？",
        ],
        "openings": [
            "上周末和{friend}去{city}{activity}，回来整理了一下经验，分享给大家。",
            "各位坛友好，想问一下{city}{district}附近有没有靠谱的{food}店？",
            "第{num2}次去{place}了，每次感受都不一样，这次带着{companion}。",
        ],
        "body": [
            "路线是这样的：早上{clock}点从{city}出发，坐{transport}大概{num2}个小时到{place}。",
            "{place}门票{price}元，学生半价，节假日人比较多，最好提前在{platform}上预约。",
            "中午在{place}附近吃的{food}，一份{price}元左右，分量很足，就是排队要{num2}0分钟。",
            "{handle}回复：{district}那家{food}店我去过，老板人很好，价格也公道。",
            "总的来说这次{activity}体验不错，就是{weather}，下次准备选{season}再去一次。",
            "提醒一下，{place}附近停车位很少，建议乘坐{transport}出行。",
            "{handle}回复：感谢楼主分享，已收藏，{season}准备带{companion}去。",
            "说实话，{city}的{food}我吃过不下{num2}家，这家排得进前三。",
            "住的是{district}的民宿，{price}一晚，离{place}走路{num2}0分钟。",
            "{handle2}回复：{place}山顶的日出一定要看，就是要{clock}点前上去。",
            "{companion}最喜欢的是{place}旁边的{spot}，玩了一下午都不想走。",
            "回程的{transport}票很难买，建议提前{num2}天抢。",
            "{handle2}回复：别去{spot}那边，商业化太严重了，东西还贵。",
        ],
        "quotes": ["{handle2}回复：楼主好人，一生平安。", "{handle}回复：图呢？没图不算。"],
        "closings": ["以上，欢迎补充。", "先写这么多，有问题楼下留言。"],
    },
}

ZH_FILLERS: dict[str, list[str]] = {
    "brand": ["云帆", "小方", "极光", "青木", "北辰", "星河", "若水", "拾光"],
    "surname": ["王", "李", "张", "刘", "陈", "周", "吴", "郑", "孙", "马"],
    "batch": ["去年双十一", "第一", "早期", "春节前", "新版"],
    "companion": ["孩子", "爸妈", "女朋友", "同学", "狗子", "一家老小"],
    "spot": ["小吃街", "沙滩", "竹林", "观景台", "老码头", "夜市", "古桥"],
    "price": ["35", "48", "68", "88", "99", "128", "158", "199", "238", "268", "320"],
    "city": ["临江", "青川", "望海", "云溪", "北岭", "南湖", "石桥", "东港", "白沙", "柳城", "松阳", "金沙", "安澜", "枫林"],
    "district": ["新城区", "滨江区", "老城区", "高新区", "开发区", "东湖街道", "西山镇", "北塘片区"],
    "project": ["老旧小区改造项目", "滨河公园二期", "地下综合管廊", "城市书房", "社区养老中心", "智慧停车场"],
    "topic": ["城市更新", "垃圾分类", "养老服务", "交通治理", "文旅融合", "智慧社区", "河道整治"],
    "org": ["市住建局", "区发改委", "市文旅局", "区城管局", "市交通运输局", "街道办事处", "市规划院"],
    "facility": ["口袋公园", "社区食堂", "公共充电站", "停车场", "便民服务站", "城市书房", "健身步道"],
    "road": ["解放路", "滨江大道", "人民路", "建设路", "学府路", "环城北路", "中山路"],
    "vehicle": ["市民", "司机", "公交车", "自驾车辆", "骑行的市民"],
    "concern": ["停车难", "噪音扰民", "排水不畅", "出行不便", "加装电梯", "绿化不足"],
    "shop": ["早餐店", "五金店", "修车铺", "小卖部", "理发店", "面馆"],
    "transport": ["高铁", "大巴", "地铁", "公交", "城际列车"],
    "weather": ["连续几天下雨", "天气太热", "风有点大", "雾比较大"],
    "platform": ["政务平台", "公众号", "小程序", "社区群", "热线"],
    "service": ["老年助餐", "快递代收", "儿童托管", "图书借阅", "家电维修"],
    "device": ["路由器", "扫地机器人", "电热水器", "平板电脑", "智能门锁", "行车记录仪", "蓝牙耳机"],
    "fault": ["频繁掉线", "自动重启", "连不上网", "充不进电", "屏幕闪烁", "发出异响"],
    "part": ["电源适配器", "网线", "电池", "主板", "滤网", "充电口"],
    "activity": ["爬山", "露营", "骑行", "赶海", "逛古镇", "看展"],
    "place": ["云顶山", "古镇老街", "湿地公园", "海滨栈道", "博物馆", "梯田观景台"],
    "food": ["牛肉面", "小笼包", "酸辣粉", "烧烤", "鱼丸汤", "煎饼果子"],
    "friend": ["室友", "同事", "老婆", "几个同学", "家里人"],
    "season": ["春天", "秋天", "夏天", "冬天"],
    "handle": ["江边的风", "老猫不吃鱼", "数码小白", "周末去哪儿", "半杯咖啡", "山里的云", "阿杰不加班", "小鹿乱撞",
               "西瓜太郎", "晚风"],
    "handle2": ["青川老李", "修电脑的阿强", "路过打酱油", "早睡早起", "一只咸鱼", "北岭老王", "爱吃辣的猫", "大橙子",
                "走走停停", "夜航船"],
    "day": ["昨天", "今天上午", "前几天", "上周三", "周末"],
}

# 版权所有 / reprint notices placed at the end of some news items.
ZH_NOTICES: list[str] = [
    "版权所有 © 2025 临江日报社，未经授权不得转载。",
    "本文版权归望海新闻网所有，转载请注明出处。",
    "版权所有，侵权必究。",
]
