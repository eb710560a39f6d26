console.log("skip native")
